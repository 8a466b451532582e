"""`docker tag` and `docker rmi`: references, untag versus delete, conflicts."""

from __future__ import annotations

from support.conformance import Conform, Session


def test_tag(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        busybox = s.baseline.ids["busybox:latest"]
        short = busybox.removeprefix("sha256:")[:12]
        s.docker("tag", "busybox", "bb").ok()  # implies :latest
        s.docker("tag", "busybox:latest", "bb:1.0").ok()
        s.docker("tag", short, "byid:short").ok()
        s.docker("tag", busybox, "byid:long").ok()
        s.docker("tag", "busybox", "localhost:5000/group/bb:v1").ok()
        s.docker("tag", "busybox", "docker.io/library/canon:1").ok()
        s.docker("image", "tag", "hello-world", "hw:2").ok()
        # Re-pointing an existing tag at another image moves it.
        s.docker("tag", "hello-world", "bb:1.0").ok()
        s.docker("tag", "busybox", "bb:1.0").ok()  # back; nothing dangles
        s.docker("images", stdout="rows").ok()
        r = s.docker("image", "inspect", "--format", "{{json .RepoTags}}", "busybox").ok()
        assert "canon:1" in r.stdout and "localhost:5000/group/bb:v1" in r.stdout

    conform(scenario)


def test_tag_errors(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        r = s.docker("tag", "nope", "x:1").fails(1)
        assert r.stderr == "Error response from daemon: No such image: nope:latest\n"
        s.docker("tag", "nope:2.0", "x:1").fails(1)
        s.docker("tag", "0123456789ab", "x:1").fails(1)
        # Bad target names are refused by the CLI before any request.
        s.docker("tag", "busybox", "UPPER").fails(1)
        s.docker("tag", "busybox", "bad name").fails(1)
        s.docker("tag", "busybox", "x:" + "t" * 129).fails(1)
        s.docker("tag", "busybox", "x@sha256:" + "0" * 64).fails(1)
        s.docker("images", stdout="rows").ok()

    conform(scenario)


def test_rmi_untag_versus_delete(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker("tag", "busybox", "bb:two").ok()
        r = s.docker("rmi", "bb:two").ok()
        assert r.stdout == "Untagged: bb:two\n"  # still tagged busybox: only untag
        r = s.docker("rmi", "busybox").ok()
        lines = r.stdout.splitlines()
        assert lines[0] == "Untagged: busybox:latest"
        assert lines[1] == "Deleted: " + s.baseline.ids["busybox:latest"]
        assert lines[2] == "Deleted: " + s.baseline.diff_ids["busybox:latest"]  # the layer
        s.docker("images").ok()
        # Removing by ID when a single tag names it deletes it.
        s.docker("rmi", s.baseline.ids["hello-world:latest"].removeprefix("sha256:")[:12]).ok()
        s.docker("images").ok()
        s.docker("system", "df").ok()

    conform(scenario)


def test_rmi_shared_layer_stays(conform: Conform) -> None:
    """A layer used by another image is not deleted with the first image."""

    def scenario(s: Session) -> None:
        s.docker("import", "-m", "same layer", str(s.images.busybox), "twin:1").ok()
        r = s.docker("rmi", "twin:1").ok()
        assert len(r.stdout.splitlines()) == 2  # Untagged + Deleted image, no layer
        r = s.docker("rmi", "busybox").ok()
        assert len(r.stdout.splitlines()) == 3  # now the layer goes too

    conform(scenario)


def test_rmi_conflicts_and_force(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        busybox = s.baseline.ids["busybox:latest"].removeprefix("sha256:")
        s.docker("tag", "busybox", "bb:two").ok()
        s.docker("tag", "busybox", "other/bb:1").ok()
        r = s.docker("rmi", busybox[:12]).fails(1)
        assert r.stderr == (
            f"Error response from daemon: conflict: unable to delete {busybox[:12]} "
            "(must be forced) - image is referenced in multiple repositories\n"
        )
        s.docker("rmi", busybox).fails(1)
        s.docker("rmi", "sha256:" + busybox).fails(1)
        s.docker("rmi", "other/bb:1").ok()
        s.docker("rmi", busybox[:12]).fails(1)  # busybox and bb: still two repositories
        s.docker("images", stdout="rows").ok()
        r = s.docker("rmi", "-f", busybox[:12]).ok()
        assert r.stdout.splitlines() == [
            "Untagged: bb:two",
            "Untagged: busybox:latest",
            "Deleted: " + s.baseline.ids["busybox:latest"],
            "Deleted: " + s.baseline.diff_ids["busybox:latest"],
        ]
        s.docker("images").ok()

    conform(scenario)


def test_rmi_by_id_with_tags_in_one_repository(conform: Conform) -> None:
    """Docker's "multiple repositories" conflict means "more than one tag":
    three tags of one repository conflict too."""

    def scenario(s: Session) -> None:
        busybox = s.baseline.ids["busybox:latest"].removeprefix("sha256:")
        s.docker("tag", "busybox", "busybox:second").ok()
        s.docker("tag", "busybox", "busybox:third").ok()
        r = s.docker("rmi", busybox[:12]).fails(1)
        assert "image is referenced in multiple repositories" in r.stderr
        s.docker("rmi", "busybox:second", "busybox:third").ok()
        s.docker("rmi", busybox[:12]).ok()  # one tag left: untag and delete
        s.docker("images").ok()

    conform(scenario)


def test_rmi_errors(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        r = s.docker("rmi", "nope").fails(1)
        assert r.stderr == "Error response from daemon: No such image: nope:latest\n"
        s.docker("rmi", "nope:1.0").fails(1)
        # With -f the CLI still prints the daemon's 404 but exits 0.
        r = s.docker("rmi", "-f", "nope").ok()
        assert r.stderr == "Error response from daemon: No such image: nope:latest\n"
        s.docker("rmi", "0123456789ab").fails(1)
        s.docker("rmi", "UPPER").fails(1)
        # Several arguments: each is tried, errors reported, exit 1 at the end.
        r = s.docker("rmi", "nope", "hello-world", "nope2").fails(1)
        assert r.stdout.startswith("Untagged: hello-world:latest\n")
        s.docker("images").ok()
        s.docker("image", "rm", "busybox").ok()
        s.docker("image", "remove", "busybox").fails(1)

    conform(scenario)


def test_rmi_no_prune(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker("tag", "busybox", "keep:1").ok()
        s.docker("rmi", "--no-prune", "busybox").ok()
        s.docker("rmi", "--no-prune", "keep:1").ok()
        s.docker("images", "-a").ok()

    conform(scenario)


def test_rmi_stops_at_a_parent_with_another_child(conform: Conform) -> None:
    """Deleting a child prunes its untagged parents up to the first one that
    still has another child: that one stays, and it is no error (moby's
    imageIsDangling counts children)."""
    def scenario(s: Session) -> None:
        s.docker("create", "--name", "rmi-parent", "busybox", "true").ok()
        parent = s.docker("commit", "rmi-parent").ok().stdout.strip()
        s.docker("rm", "rmi-parent").ok()
        for name in ("child1", "child2"):
            s.docker("create", "--name", name, parent, "true").ok()
            s.docker("commit", name, f"{name}:1").ok()
            s.docker("rm", name).ok()
        s.docker("rmi", "child1:1").ok()
        s.docker("images", "-a", stdout="rows").ok()
        s.docker("rmi", "child2:1").ok()
        s.docker("images", "-a", stdout="rows").ok()

    conform(scenario)
