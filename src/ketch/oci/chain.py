"""Layer chain IDs: the identity of a layer *stack*, not just one diff."""

from __future__ import annotations

from ketch.oci.digest import digest_bytes


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    result: list[str] = []
    for diff_id in diff_ids:
        if not result:
            result.append(diff_id)
        else:
            result.append(digest_bytes(f"{result[-1]} {diff_id}".encode()))
    return result
