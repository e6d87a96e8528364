"""Atomic writes: a temporary name in the target folder, renamed only when the block ends
without an exception; refusals before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentprobe.atomic import atomic_path, check_output_path
from latentprobe.errors import OutputError


class Boom(Exception):
    pass


def test_success_renames_the_temporary(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_path(target) as temp:
        assert temp != target
        assert temp.parent == target.parent
        assert temp.read_bytes() == b"" and not target.exists()  # created empty, exclusively
        temp.write_bytes(b"complete")
        assert not target.exists()  # nothing under the final name before the block ends
    assert target.read_bytes() == b"complete"
    assert not temp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_the_temporary_lives_in_the_target_folder_even_for_a_relative_path(tmp_path):
    (tmp_path / "sub").mkdir()
    with atomic_path("sub/out.bin") as temp:  # tests run in tmp_path
        assert temp.parent.resolve() == (tmp_path / "sub").resolve()
        temp.write_bytes(b"x")
    assert (tmp_path / "sub" / "out.bin").read_bytes() == b"x"


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt, SystemExit])
def test_a_failure_leaves_no_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "out.bin"
    with pytest.raises(error):
        with atomic_path(target) as temp:
            temp.write_bytes(b"half")
            raise error()
    assert not target.exists() and not temp.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_failure_before_the_temporary_exists_leaves_nothing(tmp_path):
    with pytest.raises(Boom):
        with atomic_path(tmp_path / "out.bin"):
            raise Boom()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_an_existing_file_survives_a_failure(tmp_path, error):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(error):
        with atomic_path(target, force=True) as temp:
            temp.write_bytes(b"new but incomplete")
            raise error()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_force_replaces_an_existing_file(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_path(target, force=True) as temp:
        temp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_an_existing_file_is_refused_without_force(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    entered = False
    with pytest.raises(OutputError, match="--force"):
        with atomic_path(target):
            entered = True
    assert not entered
    assert target.read_bytes() == b"old"
    with pytest.raises(OutputError, match="--force"):
        check_output_path(target)
    assert check_output_path(target, force=True) == target


def test_a_missing_folder_is_refused(tmp_path):
    target = tmp_path / "missing" / "out.bin"
    with pytest.raises(OutputError, match="does not exist"):
        with atomic_path(target):
            pytest.fail("the block must not run")
    with pytest.raises(OutputError):
        check_output_path(target, force=True)
    assert not (tmp_path / "missing").exists()


def test_a_folder_path_is_refused(tmp_path):
    folder = tmp_path / "adir"
    folder.mkdir()
    for force in (False, True):
        with pytest.raises(OutputError, match="folder"):
            with atomic_path(folder, force=force):
                pytest.fail("the block must not run")
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_check_output_path_accepts_a_new_file(tmp_path):
    assert check_output_path(str(tmp_path / "new.h5")) == tmp_path / "new.h5"
    assert check_output_path("new.h5").name == "new.h5"  # the current folder exists


def test_a_planted_temporary_name_is_not_followed(tmp_path):
    """The old predictable name .out.bin.<pid>.tmp, planted as a symlink, is never used."""
    import os

    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / f".out.bin.{os.getpid()}.tmp").symlink_to(victim)
    with atomic_path(tmp_path / "out.bin") as temp:
        assert not temp.is_symlink()
        temp.write_bytes(b"new")
    assert victim.read_text() == "keep" and (tmp_path / "out.bin").read_bytes() == b"new"


def test_a_file_that_appears_meanwhile_is_not_replaced_without_force(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(OutputError, match="created by someone else while this run wrote it"):
        with atomic_path(target) as temp:
            temp.write_bytes(b"mine")
            target.write_bytes(b"theirs")  # a concurrent run finished first
    assert target.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_the_published_file_has_ordinary_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.bin") as temp:
            temp.write_bytes(b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == 0o644


def test_a_folder_that_cannot_be_written_is_an_output_error(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot write in"):
            with atomic_path(folder / "out.bin"):
                pass
    finally:
        folder.chmod(0o700)


def test_a_write_failure_from_a_full_disk_is_an_output_error(tmp_path):
    import errno

    with pytest.raises(OutputError, match="cannot write .*out.bin: No space left on device"):
        with atomic_path(tmp_path / "out.bin") as temp:
            temp.write_bytes(b"part")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_other_os_errors_pass_through(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "out.bin"):
            open(tmp_path / "missing-input.txt")
    assert list(tmp_path.iterdir()) == []


def test_check_room_against_free_space(tmp_path, monkeypatch):
    import shutil

    from latentprobe.atomic import check_room

    check_room(tmp_path / "out.bin", 1000)  # a kilobyte fits
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=10 * 2**20))
    with pytest.raises(OutputError, match="needs about 106.0 MiB and .* has 10.0 MiB free"):
        check_room(tmp_path / "out.bin", 100 * 2**20)


# ------------------------------------------------------------ a file system filling up

FILL_AFTER_RESERVING = """
import os, sys
import numpy as np
import latentprobe
from latentprobe import atomic, store

folder, what = sys.argv[1], sys.argv[2]


def reserve_then_fill(temp, path, nbytes):
    atomic.reserve(temp, path, nbytes)
    with open(os.path.join(folder, "filler"), "wb", buffering=0) as f:  # another process
        try:
            while True:
                f.write(bytes(65536))
        except OSError:
            pass


store.reserve = reserve_then_fill
rng = np.random.default_rng(0)
stats = latentprobe.EncoderStats(rng.normal(size=(20_000, 16)), rng.normal(size=(20_000, 16)))
out = os.path.join(folder, "out.h5")
if what == "stats":
    latentprobe.write_stats(stats, out)
    back = latentprobe.read_stats(out)
else:
    latentprobe.analyze(stats, only=["active_units"]).write(out)
    back = latentprobe.Report.read(out).stats
print(np.array_equal(back.mu, stats.mu))
"""


def _tmpfs(folder, options: str):
    """Mount a tmpfs with ``options`` on ``folder`` (skip where this machine does not allow
    it), then unmount it."""
    import subprocess

    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def small_tmpfs(tmp_path):
    """An 8 MiB tmpfs."""
    yield from _tmpfs(tmp_path / "small", "size=8m")


@pytest.fixture
def read_only_tmpfs(tmp_path):
    """A read-only file system: root cannot write there either."""
    yield from _tmpfs(tmp_path / "ro", "ro,size=1m")


@pytest.mark.parametrize("what", ["stats", "report"])
def test_space_taken_by_another_process_during_the_write_does_not_fail_it(small_tmpfs, what):
    """The room is allocated to the temporary before HDF5 writes: another process filling
    the file system afterwards (here right after the reservation) cannot make a write fail
    halfway, which crashed HDF5 or lost the output."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", FILL_AFTER_RESERVING, str(small_tmpfs), what],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    assert (small_tmpfs / "filler").stat().st_size > 0
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler", "out.h5"]


@pytest.mark.parametrize("verb", ["extract", "analyze"])
def test_a_full_file_system_is_a_one_line_error_and_leaves_nothing(small_tmpfs, verb):
    import subprocess
    import sys
    from pathlib import Path

    with open(small_tmpfs / "filler", "wb") as f:  # leave about 100 KB
        f.write(bytes(8 * 2**20 - 100 * 2**10))
    cli = Path(sys.executable).parent / "latentprobe"
    healthy = Path(__file__).resolve().parent.parent / "fixtures" / "healthy.pt"
    args = (
        [str(cli), verb, str(healthy), "--only", "active_units"]
        if verb == "analyze"
        else [str(cli), verb, str(healthy)]
    )
    done = subprocess.run(
        [*args, "-o", str(small_tmpfs / "out.h5")], capture_output=True, text=True
    )
    assert done.returncode == OutputError.exit_code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "out.h5" in lines[0] and "free some space" in lines[0], lines
    assert sorted(p.name for p in small_tmpfs.iterdir()) == ["filler"]


def _cli(*args: str):
    import subprocess
    import sys

    cli = Path(sys.executable).parent / "latentprobe"
    return subprocess.Popen(
        [str(cli), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


HEALTHY = str(
    __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures" / "healthy.pt"
)


@pytest.mark.parametrize("verb", ["extract", "analyze"])
def test_a_read_only_folder_is_a_one_line_output_error(read_only_tmpfs, verb):
    extra = ["--only", "active_units"] if verb == "analyze" else []
    process = _cli(verb, HEALTHY, *extra, "-o", str(read_only_tmpfs / "out.h5"))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == OutputError.exit_code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0] and "choose another folder" in lines[0]
    assert list(read_only_tmpfs.iterdir()) == []


def test_two_concurrent_writers_of_one_new_output_one_wins_the_other_says_so(tmp_path):
    """Two real processes extract to the same new name at once: one publishes its file, the
    other ends with exit 9 naming --force; never a silent replacement."""
    out = str(tmp_path / "s.h5")
    processes = [_cli("extract", HEALTHY, "-o", out, "--quiet") for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, OutputError.exit_code], results
    loser = next(err for code, err in results if code != 0)
    assert "--force" in loser and len(loser.strip().splitlines()) == 1
    import latentprobe

    assert latentprobe.read_stats(out).n_examples == 1797
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]
