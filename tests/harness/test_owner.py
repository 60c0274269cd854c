"""`harness clean` removes only runs whose controller is gone: the owner label."""

import os
import socket
import subprocess
import sys

from harness.control.docker import _boot_id, owner_alive, owner_label


def test_this_process_owns_what_it_creates_and_is_alive():
    label = owner_label()
    assert label.startswith(f"{socket.gethostname()}/{_boot_id()}/{os.getpid()}/")
    assert owner_alive(label)


def test_a_finished_process_is_not_alive_even_if_its_pid_comes_back():
    proc = subprocess.run([sys.executable, "-c",
                           "from harness.control.docker import owner_label; print(owner_label())"],
                          capture_output=True, text=True, check=True)
    label = proc.stdout.strip()
    assert not owner_alive(label)
    host, boot, pid, start = label.rsplit("/", 3)
    # Same pid number, another start time: a recycled pid is not the owner.
    assert not owner_alive(f"{host}/{boot}/{os.getpid()}/{int(start) - 1}")


def test_unknown_owners_are_left_alone_and_a_past_boot_is_gone():
    assert owner_alive(None) and owner_alive("") and owner_alive("garbage")
    assert owner_alive(f"another-host/{_boot_id()}/1/1")
    assert not owner_alive(f"{socket.gethostname()}/an-earlier-boot/1/1")
