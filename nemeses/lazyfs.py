"""A file system that forgets what was never fsync'd: runs inside a node, under a system's data.

Uploaded to each node by the `lose-unfsynced` and `disk` nemeses (nemeses/data_fs.py) and
mounted (FUSE, through the image's fusepy) over the directory a system keeps its durable
state in; the real files live in a backing directory beside it. Every call passes straight
through to the backing files, so the system sees an ordinary, fast file system, and the
layer only remembers how to undo what is not yet durable:

* **data**: the first change to a file after its last fsync records the file's durable
  size and, page by page, the old content of each durable page it overwrites (an append
  records nothing but the size). fsync/fdatasync of the file (or a write to a file opened
  O_SYNC/O_DSYNC) makes it durable: the record is dropped.
* **names**: creating, removing and renaming a file or directory is durable once its
  parent directory is fsync'd (POSIX; ext4 is often kinder, which only hides the bug).
  Until then the layer keeps an undo step (a removed or overwritten file is kept alive
  by a hard link in the shadow directory).

`lose` is the power loss (LazyFS's clear-cache): once the system's processes are dead, it
applies every undo step, newest first, so the backing directory holds exactly what an
fsync made durable (with `torn`, a probability, each page written since its file's last
fsync, and the file's new size, may have reached the disk anyway: torn writes, the file a
mix of old and new pages, zeros where a kept size outran its data); the kernel's caches are bypassed (attributes are never cached, and
file content is re-read on every open), so restarted processes see the loss. The same
layer injects disk faults (`faults`): EIO and/or a delay on the chosen operations (read,
write, fsync), each call failing with a probability. A failed fsync behaves as Linux's
does (PostgreSQL's "fsyncgate"): the unsynced data it covered is lost at the next power
loss even if a later fsync succeeds.

Control: a Unix socket; one JSON request per connection, one JSON reply
(`lazyfs.py ctl SOCKET '{"cmd": "lose"}'`). Commands: `lose` (torn), `faults` (ops, eio,
delay_ms), `heal`, `stats`.

Not modelled: a page torn within itself (pages are the unit: 4 KiB, as the page cache
writes them back), names torn apart from their journal, and metadata other than names and
sizes (mode, owner, times).
"""

from __future__ import annotations

import errno
import json
import os
import random
import socket
import sys
import threading
import time

PAGE = 4096


class _FileUndo:
    """How to return one file (an inode, held by an open descriptor) to its durable state.

    After a failed fsync (`doomed`) the record outlives later fsyncs, as Linux's dirty
    pages do not: the pages the failed fsync covered were marked clean and never reach the
    disk, so a later successful fsync makes durable only the pages written after the
    failure (`rewritten`), and the rest of what the failure covered reads back as zeros."""

    __slots__ = ("fd", "size", "pages", "doomed", "failed_size", "rewritten")

    def __init__(self, fd: int, size: int):
        self.fd = fd
        self.size = size                      # its durable size
        self.pages: dict[int, bytes] = {}     # page number -> durable content
        self.doomed = False
        self.failed_size = 0
        self.rewritten: set[int] = set()

    def save(self, start: int, end: int) -> None:
        """Keep the durable content of every page in [start, end) not yet kept."""
        if end <= start:
            return
        if self.doomed:
            self.rewritten.update(range(start // PAGE, (end + PAGE - 1) // PAGE))
        for page in range(start // PAGE, (min(end, self.size) + PAGE - 1) // PAGE):
            if page not in self.pages:
                offset = page * PAGE
                self.pages[page] = os.pread(self.fd, min(PAGE, self.size - offset), offset)

    def fail(self) -> None:
        self.doomed = True
        self.failed_size = max(self.failed_size, os.fstat(self.fd).st_size)
        self.rewritten.clear()

    def sync_after_failure(self) -> None:
        """A successful fsync of a doomed file: see the class docstring."""
        new_size = os.fstat(self.fd).st_size
        for page in self.rewritten:
            self.pages.pop(page, None)
        for page in range(self.size // PAGE, (min(self.failed_size, new_size) + PAGE - 1) // PAGE):
            if page in self.rewritten or page in self.pages:
                continue
            offset = page * PAGE
            kept = os.pread(self.fd, max(0, self.size - offset), offset) if offset < self.size else b""
            self.pages[page] = kept + bytes(min(PAGE, new_size - offset) - len(kept))
        self.size = new_size
        self.rewritten.clear()

    def undo(self, survives=None) -> int:
        """Write the durable content back; returns the bytes that were not durable and
        the pages whose newer content survived.

        `survives(page)` (torn writes; None: nothing survives) says whether the disk had
        written a page's new content back before the power went, and `survives(-1)`
        whether the new size had reached the disk: then every page past the durable size
        holds its new content or, where it did not survive, zeros (the size was on disk,
        the data not), as after a crash of ext4 in data=writeback mode."""
        current = os.fstat(self.fd).st_size
        size = (current if survives is not None and current != self.size and survives(-1)
                else self.size)
        lost = abs(current - size)
        os.ftruncate(self.fd, size)
        grown = range(self.size // PAGE, (size + PAGE - 1) // PAGE) if size > self.size else ()
        kept = 0
        for page in grown:                  # only with `survives`: the new size was kept
            if not survives(page):
                start, end = max(page * PAGE, self.size), min((page + 1) * PAGE, size)
                os.pwrite(self.fd, bytes(end - start), start)
                lost += end - start
            elif page not in self.pages:
                kept += 1
        for page, content in self.pages.items():
            if survives is not None and survives(page):
                kept += 1
                continue
            os.pwrite(self.fd, content[:max(0, min(self.size, size) - page * PAGE)],
                      page * PAGE)
            lost += len(content)
        return lost, kept

    def close(self) -> None:
        os.close(self.fd)


class Durability:
    """The undo bookkeeping over a backing directory (no FUSE here: tested on its own).

    Every method takes paths relative to the mount ("/a/b"); the caller serializes calls
    that change anything (one lock). `files` maps an inode number to its _FileUndo;
    `names` is the list of name changes
    not yet durable, oldest first, each (kind, parent dirs, undo args)."""

    def __init__(self, backing: str, shadow: str):
        self.backing = backing
        self.shadow = shadow
        os.makedirs(shadow, exist_ok=True)
        self.files: dict[int, _FileUndo] = {}
        self.names: list[tuple] = []
        self.serial = 0

    def real(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    # ---- data
    def before_write(self, path: str, fd: int, start: int, end: int) -> None:
        undo = self._file(path, fd)
        undo.save(start, end)

    def before_truncate(self, path: str, length: int, fd: int | None = None) -> None:
        undo = self._file(path, fd)
        undo.save(length, undo.size)

    def _file(self, path: str, fd: int | None) -> _FileUndo:
        st = os.fstat(fd) if fd is not None else os.stat(self.real(path))
        undo = self.files.get(st.st_ino)
        if undo is None:
            undo = self.files[st.st_ino] = _FileUndo(os.open(self.real(path), os.O_RDWR),
                                                     st.st_size)
        return undo

    def synced(self, fd: int) -> None:
        """The file behind `fd` was fsync'd successfully."""
        ino = os.fstat(fd).st_ino
        undo = self.files.get(ino)
        if undo is None:
            return
        if undo.doomed:
            undo.sync_after_failure()
        else:
            del self.files[ino]
            undo.close()

    def sync_failed(self, path: str, fd: int) -> None:
        """An fsync of `fd` failed: what it covered is lost at the next power loss."""
        self._file(path, fd).fail()

    # ---- names
    def _keep(self, path: str) -> str:
        self.serial += 1
        kept = os.path.join(self.shadow, f"kept-{self.serial}")
        os.link(self.real(path), kept)
        return kept

    def created(self, path: str, directory: bool = False) -> None:
        self.names.append(("mkdir" if directory else "create", (os.path.dirname(path),), path))

    def before_unlink(self, path: str) -> None:
        self.names.append(("unlink", (os.path.dirname(path),), path, self._keep(path)))

    def removed_dir(self, path: str) -> None:
        self.names.append(("rmdir", (os.path.dirname(path),), path))

    def before_rename(self, old: str, new: str) -> None:
        kept = None
        if os.path.lexists(self.real(new)) and not os.path.isdir(self.real(new)):
            kept = self._keep(new)
        self.names.append(("rename", (os.path.dirname(old), os.path.dirname(new)),
                           old, new, kept))

    def dir_synced(self, path: str) -> None:
        """The directory `path` was fsync'd: the name changes in it are durable."""
        path = "/" + path.strip("/") if path.strip("/") else "/"
        keep = []
        for step in self.names:
            if path in step[1]:
                self._forget(step)
            else:
                keep.append(step)
        self.names = keep

    def _forget(self, step: tuple) -> None:
        kept = step[3] if step[0] == "unlink" else step[4] if step[0] == "rename" else None
        if kept:
            os.unlink(kept)

    # ---- the power loss
    def lose(self, torn: float = 0.0, rng: random.Random | None = None) -> dict:
        """Return the backing directory to its durable state; what was lost, counted.

        With `torn` (a probability), each page written since its file's last fsync, and
        each file's new size, independently survives with that probability (the page
        cache wrote some of it back before the power went): files come back as a mix
        of durable and newer pages. Names are all or nothing, as a journal replays."""
        lost_bytes = torn_pages = 0
        files = len(self.files)
        rng = rng or random.Random(0)
        for undo in self.files.values():
            survives = None
            if torn > 0:
                decided: dict[int, bool] = {}

                def survives(page, decided=decided):
                    if page not in decided:
                        decided[page] = rng.random() < torn
                    return decided[page]
            lost, kept = undo.undo(survives)
            lost_bytes += lost
            torn_pages += kept
            undo.close()
        self.files.clear()
        names, failed = len(self.names), 0
        for step in reversed(self.names):
            try:
                self._undo_name(step)
            except OSError:
                failed += 1             # best effort, as a journal replay would be
        self.names.clear()
        for leftover in os.listdir(self.shadow):
            os.unlink(os.path.join(self.shadow, leftover))
        lost = {"files": files, "bytes": lost_bytes, "names": names, "names_failed": failed}
        if torn > 0:
            lost["pages_kept"] = torn_pages     # newer pages that reached the disk anyway
        return lost

    def _undo_name(self, step: tuple) -> None:
        kind, real = step[0], self.real
        if kind == "create":
            os.unlink(real(step[2]))
        elif kind == "mkdir":
            os.rmdir(real(step[2]))
        elif kind == "rmdir":
            os.mkdir(real(step[2]))
        elif kind == "unlink":
            os.link(step[3], real(step[2]))
        elif kind == "rename":
            _, _, old, new, kept = step
            os.rename(real(new), real(old))
            if kept:
                os.link(kept, real(new))

    def pending(self) -> dict:
        return {"files": len(self.files), "names": len(self.names),
                "doomed": sum(1 for undo in self.files.values() if undo.doomed)}


class Faults:
    """Disk faults in force: for the operations in `ops`, a delay and/or EIO with a
    probability (0 to 1)."""

    def __init__(self, seed: int = 0):
        self.ops: frozenset[str] = frozenset()
        self.eio = 0.0
        self.delay_s = 0.0
        self.rng = random.Random(seed)
        self.injected = 0

    def set(self, ops, eio: float = 0.0, delay_ms: float = 0.0) -> None:
        self.ops, self.eio, self.delay_s = frozenset(ops), float(eio), delay_ms / 1000

    def clear(self) -> None:
        self.set(())

    def check(self, op: str) -> None:
        """Called before `op`: sleeps and/or raises OSError(EIO) as configured."""
        if op not in self.ops:
            return
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.eio and self.rng.random() < self.eio:
            self.injected += 1
            raise OSError(errno.EIO, "injected I/O error")


# --------------------------------------------------------------------------- FUSE

def _fusepy():
    """fusepy: Debian names its module `fusepy`, PyPI `fuse`."""
    try:
        import fusepy
        return fusepy
    except ImportError:
        import fuse
        return fuse


def make_operations(durability: Durability, faults: Faults, lock: threading.RLock):
    """The fusepy Operations over `durability.backing` (fusepy imported here: the node has
    it, the controller need not)."""
    fuse = _fusepy()
    FuseOSError, Operations, fuse_get_context = (fuse.FuseOSError, fuse.Operations,
                                                 fuse.fuse_get_context)

    real = durability.real

    def oserror(fn):
        def wrapped(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except OSError as e:
                raise FuseOSError(e.errno or errno.EIO) from None
        wrapped.__name__ = fn.__name__
        return wrapped

    class LazyFS(Operations):
        def __init__(self):
            self.sync_fds: set[int] = set()
            self.open_fds = 0

        def _owner(self, path: str) -> None:
            uid, gid, _ = fuse_get_context()
            os.lchown(real(path), uid, gid)

        @oserror
        def access(self, path, mode):
            if not os.access(real(path), mode):
                raise FuseOSError(errno.EACCES)

        @oserror
        def chmod(self, path, mode):
            os.chmod(real(path), mode)

        @oserror
        def chown(self, path, uid, gid):
            os.lchown(real(path), uid, gid)

        @oserror
        def getattr(self, path, fh=None):
            st = os.fstat(fh) if fh is not None else os.lstat(real(path))
            return {key: getattr(st, key) for key in (
                "st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink",
                "st_size", "st_uid", "st_ino", "st_blocks")}

        @oserror
        def readdir(self, path, fh):
            return [".", ".."] + os.listdir(real(path))

        @oserror
        def readlink(self, path):
            return os.readlink(real(path))

        @oserror
        def statfs(self, path):
            sv = os.statvfs(real(path))
            return {key: getattr(sv, key) for key in (
                "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree",
                "f_files", "f_flag", "f_frsize", "f_namemax")}

        @oserror
        def utimens(self, path, times=None):
            os.utime(real(path), times)

        # names
        @oserror
        def mkdir(self, path, mode):
            with lock:
                os.mkdir(real(path), mode)
                self._owner(path)
                durability.created(path, directory=True)

        @oserror
        def rmdir(self, path):
            with lock:
                os.rmdir(real(path))
                durability.removed_dir(path)

        @oserror
        def mknod(self, path, mode, dev):
            with lock:
                os.mknod(real(path), mode, dev)
                self._owner(path)
                durability.created(path)

        @oserror
        def unlink(self, path):
            with lock:
                durability.before_unlink(path)
                os.unlink(real(path))

        @oserror
        def rename(self, old, new):
            with lock:
                durability.before_rename(old, new)
                os.rename(real(old), real(new))

        @oserror
        def link(self, target, source):
            with lock:
                os.link(real(source), real(target))
                durability.created(target)

        @oserror
        def symlink(self, target, source):
            with lock:
                os.symlink(source, real(target))
                os.lchown(real(target), *fuse_get_context()[:2])
                durability.created(target)

        # files
        def _track(self, fd, flags):
            if flags & (os.O_SYNC | os.O_DSYNC):
                self.sync_fds.add(fd)
            self.open_fds += 1
            return fd

        @oserror
        def open(self, path, flags):
            flags &= ~os.O_APPEND      # the kernel passes the offset of every write
            with lock:
                if flags & os.O_TRUNC:
                    durability.before_truncate(path, 0)
                return self._track(os.open(real(path), flags), flags)

        @oserror
        def create(self, path, mode, fi=None):
            with lock:
                existed = os.path.lexists(real(path))
                if existed:
                    durability.before_truncate(path, 0)
                # O_RDWR whatever was asked: the kernel may read a write-only file's pages
                fd = os.open(real(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC, mode)
                if not existed:
                    self._owner(path)
                    durability.created(path)
                return self._track(fd, 0)

        @oserror
        def read(self, path, size, offset, fh):
            faults.check("read")
            return os.pread(fh, size, offset)

        @oserror
        def write(self, path, data, offset, fh):
            faults.check("write")
            with lock:
                durability.before_write(path, fh, offset, offset + len(data))
                written = os.pwrite(fh, data, offset)
                if fh in self.sync_fds:
                    self._fsync(path, fh)
                return written

        @oserror
        def truncate(self, path, length, fh=None):
            faults.check("write")
            with lock:
                durability.before_truncate(path, length, fh)
                if fh is not None:
                    os.ftruncate(fh, length)
                else:
                    os.truncate(real(path), length)

        def _fsync(self, path, fh):
            try:
                faults.check("fsync")
                os.fsync(fh)
            except OSError:
                durability.sync_failed(path, fh)
                raise
            durability.synced(fh)

        @oserror
        def fsync(self, path, datasync, fh):
            with lock:
                self._fsync(path, fh)

        @oserror
        def fsyncdir(self, path, datasync, fh):
            with lock:
                faults.check("fsync")
                fd = os.open(real(path), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                durability.dir_synced(path)

        def flush(self, path, fh):
            return 0

        @oserror
        def release(self, path, fh):
            self.sync_fds.discard(fh)
            self.open_fds -= 1
            os.close(fh)

    return LazyFS()


def serve_control(sock_path: str, durability: Durability, faults: Faults, ops,
                  lock: threading.RLock) -> None:
    """Answer control requests on a Unix socket, one JSON request per connection."""
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sock_path)
    server.listen(4)

    def handle(request: dict) -> dict:
        cmd = request.get("cmd")
        if cmd == "lose":
            # The processes were killed just before: wait (bounded) until the kernel has
            # released their files, so no write of theirs lands after the loss.
            deadline = time.monotonic() + float(request.get("wait_s", 5))
            while ops.open_fds > 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            with lock:
                lost = durability.lose(float(request.get("torn", 0.0)), faults.rng)
            lost["open_files"] = ops.open_fds
            return lost
        if cmd == "faults":
            faults.set(request.get("ops", ()), request.get("eio", 0.0),
                       request.get("delay_ms", 0.0))
            return {"ops": sorted(faults.ops), "eio": faults.eio,
                    "delay_ms": faults.delay_s * 1000}
        if cmd == "heal":
            faults.clear()
            return {"injected": faults.injected}
        if cmd == "stats":
            with lock:
                return {**durability.pending(), "open_files": ops.open_fds,
                        "injected": faults.injected}
        return {"error": f"unknown command {cmd!r}"}

    while True:
        conn, _ = server.accept()
        with conn:
            try:
                reply = handle(json.loads(_read_line(conn) or b"{}"))
            except Exception as e:  # noqa: BLE001 - the reply says what went wrong
                reply = {"error": f"{type(e).__name__}: {e}"}
            conn.sendall(json.dumps(reply).encode() + b"\n")


def control(sock_path: str, request: str, timeout_s: float = 30.0) -> str:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout_s)
    client.connect(sock_path)
    client.sendall(request.encode() + b"\n")
    return _read_line(client).decode().strip()


def _read_line(conn: socket.socket) -> bytes:
    """One newline-terminated message (or what came before the peer closed)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def mount(backing: str, mountpoint: str, sock_path: str, seed: int) -> None:
    FUSE = _fusepy().FUSE
    shadow = backing.rstrip("/") + ".shadow"
    durability = Durability(backing, shadow)
    faults = Faults(seed)
    lock = threading.RLock()
    ops = make_operations(durability, faults, lock)
    threading.Thread(target=serve_control, args=(sock_path, durability, faults, ops, lock),
                     daemon=True).start()
    # No attribute or name caching and no kept page cache: after a power loss the
    # restarted processes must see the durable state, not what the kernel remembers.
    FUSE(ops, mountpoint, foreground=True, nothreads=False, allow_other=True,
         default_permissions=True, use_ino=True, attr_timeout=0, entry_timeout=0,
         negative_timeout=0, fsname="harness-lazyfs")


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "ctl":
        print(control(argv[1], argv[2]))
        return 0
    if len(argv) == 5 and argv[0] == "mount":
        mount(argv[1], argv[2], argv[3], int(argv[4]))
        return 0
    print("usage: lazyfs.py mount BACKING MOUNTPOINT SOCKET SEED | ctl SOCKET JSON",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
