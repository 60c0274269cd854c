"""The lose-unfsynced file system's bookkeeping (nemeses/lazyfs.py Durability) against a
brute-force model of what an fsync makes durable, on random sequences of file operations.

The operations are applied to a real directory the way the FUSE layer applies them (the
hook, then the system call); the model keeps, per file, the content at its last fsync and,
per directory, the names at its last fsync. After a power loss the directory must hold
exactly the model's durable state, file by file and byte by byte."""

from __future__ import annotations

import os
import random

import pytest

from nemeses.lazyfs import PAGE, Durability

DIRS = ("/", "/d")


def snapshot(root: str) -> dict[str, bytes]:
    out = {}
    for d in DIRS:
        for name in sorted(os.listdir(os.path.join(root, d.lstrip("/")))):
            path = os.path.join(d, name)
            if os.path.isfile(os.path.join(root, path.lstrip("/"))):
                with open(os.path.join(root, path.lstrip("/")), "rb") as f:
                    out[path] = f.read()
    return out


class World:
    """The directory, the Durability under test, and the model (inode ids are ours)."""

    def __init__(self, tmp_path, rng):
        self.root = str(tmp_path / "data")
        os.makedirs(os.path.join(self.root, "d"))
        self.fs = Durability(self.root, str(tmp_path / "shadow"))
        self.rng = rng
        self.fds: dict[str, int] = {}            # open descriptor per name
        self.inode: dict[str, int] = {}          # name -> our inode id (current)
        self.durable_names = {d: {} for d in DIRS}   # dir -> {name: inode id}
        self.durable_data: dict[int, bytes] = {}
        self.current: dict[int, bytes] = {}      # inode id -> its content now
        self.next_inode = 0

    def real(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def fd(self, path):
        if path not in self.fds:
            self.fds[path] = os.open(self.real(path), os.O_RDWR)
        return self.fds[path]

    def close(self, path):
        fd = self.fds.pop(path, None)
        if fd is not None:
            os.close(fd)

    def content(self, path):
        with open(self.real(path), "rb") as f:
            return f.read()

    # operations, each the FUSE layer's order: hook, then the call
    def create(self, path):
        self.fs.created(path)
        os.close(os.open(self.real(path), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644))
        self.inode[path] = self.next_inode
        self.durable_data[self.next_inode] = self.current[self.next_inode] = b""
        self.next_inode += 1

    def write(self, path):
        size = len(self.content(path))
        start = self.rng.choice([size, self.rng.randrange(size + 1),
                                 self.rng.randrange(0, size + PAGE * 2 + 1)])
        data = bytes(self.rng.randrange(256) for _ in range(self.rng.choice([1, 100, PAGE, 3 * PAGE + 7])))
        fd = self.fd(path)
        self.fs.before_write(path, fd, start, start + len(data))
        os.pwrite(fd, data, start)
        self.current[self.inode[path]] = self.content(path)

    def truncate(self, path):
        length = self.rng.randrange(len(self.content(path)) + PAGE)
        fd = self.fd(path)
        self.fs.before_truncate(path, length, fd)
        os.ftruncate(fd, length)
        self.current[self.inode[path]] = self.content(path)

    def fsync(self, path):
        fd = self.fd(path)
        os.fsync(fd)
        self.fs.synced(fd)
        self.durable_data[self.inode[path]] = self.content(path)

    def unlink(self, path):
        self.close(path)
        self.fs.before_unlink(path)
        os.unlink(self.real(path))
        del self.inode[path]

    def rename(self, old, new):
        self.close(old)
        self.close(new)
        self.fs.before_rename(old, new)
        os.rename(self.real(old), self.real(new))
        self.inode[new] = self.inode.pop(old)

    def fsync_dir(self, d):
        fd = os.open(self.real(d), os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        self.fs.dir_synced(d)
        self.durable_names[d] = {p: i for p, i in self.inode.items() if os.path.dirname(p) == d}

    def lose(self, torn: float = 0.0):
        for path in list(self.fds):
            self.close(path)
        self.fs.lose(torn, self.rng)
        durable = {p: i for d in DIRS for p, i in self.durable_names[d].items()}
        found = snapshot(self.root)
        assert sorted(found) == sorted(durable)
        for path, inode in durable.items():
            if torn:
                assert_torn(found[path], self.durable_data[inode], self.current[inode])
            else:
                assert found[path] == self.durable_data[inode], path
            self.durable_data[inode] = self.current[inode] = found[path]
        self.inode = durable
        assert os.listdir(self.fs.shadow) == []


def assert_torn(found: bytes, durable: bytes, newer: bytes) -> None:
    """A torn file: the durable size or the newer one, and each page of it the durable
    content or the newer (each read with zeros past its end)."""
    assert len(found) in (len(durable), len(newer))
    padded = [(x + bytes(len(found)))[:len(found)] for x in (durable, newer)]
    for start in range(0, len(found), PAGE):
        page = found[start:start + PAGE]
        assert page in (padded[0][start:start + PAGE], padded[1][start:start + PAGE]), start


@pytest.mark.parametrize("seed,torn", [(seed, 0.0) for seed in range(40)]
                         + [(seed, 0.5) for seed in range(40, 60)])
def test_a_power_loss_leaves_exactly_what_fsync_made_durable(tmp_path, seed, torn):
    """Without torn writes, exactly the durable state; with them (torn=0.5), each file a
    mix of durable and newer pages, at its durable or newer size."""
    rng = random.Random(seed)
    world = World(tmp_path, rng)
    names = [os.path.join(d, n) for d in DIRS for n in "abc"]
    for _ in range(rng.randrange(20, 120)):
        existing = sorted(world.inode)
        choice = rng.random()
        if choice < 0.08:
            world.lose(torn)
        elif choice < 0.2 or not existing:
            free = [n for n in names if n not in world.inode]
            if free:
                world.create(rng.choice(free))
        elif choice < 0.45:
            world.write(rng.choice(existing))
        elif choice < 0.52:
            world.truncate(rng.choice(existing))
        elif choice < 0.7:
            world.fsync(rng.choice(existing))
        elif choice < 0.77:
            world.unlink(rng.choice(existing))
        elif choice < 0.85:
            old = rng.choice(existing)
            new = rng.choice([n for n in names if os.path.dirname(n) == os.path.dirname(old)
                              and n != old])
            world.rename(old, new)
        else:
            world.fsync_dir(rng.choice(DIRS))
    world.lose(torn)


def test_torn_writes_keep_some_newer_pages_and_lose_others(tmp_path):
    """Four unsynced pages over a synced file, torn=0.5: some come back newer, some
    durable (with seed 3: both kinds), never anything else."""
    world = World(tmp_path, random.Random(3))
    world.create("/f")
    world.fsync_dir("/")
    fd = world.fd("/f")
    world.fs.before_write("/f", fd, 0, 4 * PAGE)
    os.pwrite(fd, b"o" * 4 * PAGE, 0)
    world.fsync("/f")
    world.fs.before_write("/f", fd, 0, 4 * PAGE)
    os.pwrite(fd, b"n" * 4 * PAGE, 0)
    world.current[world.inode["/f"]] = world.content("/f")
    world.lose(0.5)
    pages = {world.content("/f")[i:i + PAGE] for i in range(0, 4 * PAGE, PAGE)}
    assert pages == {b"o" * PAGE, b"n" * PAGE}


def test_an_unsynced_append_is_lost_and_a_synced_one_kept(tmp_path):
    world = World(tmp_path, random.Random(0))
    world.create("/log")
    world.fsync_dir("/")
    fd = world.fd("/log")
    for data, sync in ((b"one\n", True), (b"two\n", False)):
        size = os.fstat(fd).st_size
        world.fs.before_write("/log", fd, size, size + len(data))
        os.pwrite(fd, data, size)
        if sync:
            world.fsync("/log")
    assert world.content("/log") == b"one\ntwo\n"
    world.lose()
    assert world.content("/log") == b"one\n"


def test_a_new_file_without_a_directory_fsync_is_gone(tmp_path):
    world = World(tmp_path, random.Random(0))
    world.create("/meta")
    world.write("/meta")
    world.fsync("/meta")
    world.lose()
    assert not os.path.exists(world.real("/meta"))


def test_a_failed_fsync_loses_what_it_covered_even_after_a_later_fsync(tmp_path):
    world = World(tmp_path, random.Random(0))
    world.create("/wal")
    world.fsync_dir("/")
    fd = world.fd("/wal")
    world.fs.before_write("/wal", fd, 0, PAGE)
    os.pwrite(fd, b"a" * PAGE, 0)
    world.fs.sync_failed("/wal", fd)                   # the fsync returned EIO
    world.fs.before_write("/wal", fd, PAGE, 2 * PAGE)  # the system carries on
    os.pwrite(fd, b"b" * PAGE, PAGE)
    os.fsync(fd)
    world.fs.synced(fd)                                # and this fsync succeeds
    world.fs.lose()
    # the second page was written after the failure and reached the disk; the first did not
    assert world.content("/wal") == bytes(PAGE) + b"b" * PAGE
