"""Results and reports are written whole or not at all, and a folder that cannot take
them is named: before any cluster is made when it is known then (--report-dir), with
the file and the cause when it happens at the end (a full disk)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from graceproof.cli import main
from graceproof.cli_prove_inputs import check_writable
from graceproof.errors import ReportWriteError
from graceproof.result_files import write_file_whole

ROOT = Path(__file__).resolve().parents[2]


def test_a_full_disk_leaves_the_earlier_file_whole_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = tmp_path / "result.json"
    write_file_whole(earlier, '{"kept": true}')

    def full(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("graceproof.result_files.os.replace", full)
    with pytest.raises(ReportWriteError) as failed:
        write_file_whole(earlier, '{"kept": false}')
    message = str(failed.value)
    assert f"could not write {earlier}: No space left on device" in message
    assert "the files written before it are kept" in message and "To fix:" in message
    assert earlier.read_text() == '{"kept": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_a_folder_that_is_a_file_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "reports"
    blocker.write_text("not a folder")
    with pytest.raises(ReportWriteError, match=r"could not write .*reports/r\.json"):
        write_file_whole(blocker / "r.json", "{}")


def test_prove_refuses_a_report_dir_it_cannot_write_before_any_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A kubeconfig whose API server nobody serves: reaching for it would fail otherwise.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: c, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: c}}]\n"
    )
    (tmp_path / "file").write_text("")
    manifests = ROOT / "examples" / "nginx" / "manifests"
    argv = ["prove", "-f", str(manifests), "--kubeconfig", str(kubeconfig)]
    assert main([*argv, "--report-dir", str(tmp_path / "file" / "reports")]) == 2
    err = capsys.readouterr().err
    assert f"--report-dir {tmp_path / 'file' / 'reports'} cannot be written: Not a directory" in err
    assert "To fix: choose a folder you can write in" in err


def test_the_check_leaves_no_folder_it_made_and_keeps_one_that_was_there(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "reports")
    assert not (tmp_path / "new").exists()
    (tmp_path / "there").mkdir()
    check_writable(tmp_path / "there")
    assert (tmp_path / "there").is_dir()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_file_written_whole_gets_the_mode_a_plain_open_would_give(
    tmp_path: Path, umask: int, mode: int
) -> None:
    # tempfile.mkstemp makes 0600 files: a result JSON beside a 0644 picture was unreadable
    # to the group that reads the report.
    earlier = os.umask(umask)
    try:
        write_file_whole(tmp_path / "r.json", "{}")
        (tmp_path / "plain.txt").write_text("")
    finally:
        os.umask(earlier)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == mode
