"""The OCI runtime interface and its drivers (conmon + runc by default).

- ``base``: the interface the container service uses (``Runtime``,
  ``ProcessIO``, options and results).
- ``conmon``: ``ConmonRuntime``, the default driver.
- ``attach``: a process's stdio over conmon's attach socket.
- ``logfile``: reading (and following) the k8s-file logs conmon writes.
- ``logrotate``: keeping Docker's max-file rotated logs around conmon's
  single-file rotation.
- ``procs`` and ``inotify``: asyncio plumbing (subprocesses, pidfds, pipes,
  file change notifications).
"""
