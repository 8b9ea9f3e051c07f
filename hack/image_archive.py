#!/usr/bin/env python3
"""Write a container image archive (docker-save format) from directories, without Docker.

No registry and no Docker engine are reachable on the machines hack/ serves, so the
pause image and the workload image are assembled here from plain files and then
imported with `ctr images import`. The format (manifest.json + config + layer tars)
is what `docker save` writes; both containerd and `docker load` read it.

Usage:
  image_archive.py --tag REF [--tag REF]... --out FILE.tar [--layer-tar T.tar]...
                   [--layer-dir SRC:DEST]... [--cmd JSON] [--entrypoint JSON] [--env K=V]...
                   [--workdir DIR]
      one image; several --tag give it several names (kind's pause is wanted under two)
  image_archive.py merge --out FILE.tar ARCHIVE.tar...
      one archive holding every image of the given ones (for `kind build node-image`,
      which reads the tags of an archive from its `repositories` entry, written first)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dir_layer(src: Path, dest: str, out: Path) -> None:
    """A layer holding src's files under dest, with fixed owner and times (reproducible)."""

    def reset(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        ti.mtime = 0
        return ti

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        parts = Path(dest.strip("/")).parts
        for i in range(1, len(parts)):
            d = tarfile.TarInfo("/".join(parts[:i]))
            d.type, d.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(reset(d))
        for path in sorted([src, *src.rglob("*")]):
            if "__pycache__" in path.parts:
                continue
            rel = path.relative_to(src)
            name = "/".join((*parts, *rel.parts)) if str(rel) != "." else "/".join(parts)
            tar.add(path, arcname=name, recursive=False, filter=reset)


def _inputs_key(args: argparse.Namespace) -> str:
    """What the archive is made from: every option but the layer folders' own paths
    (hack/images.sh stages some in a new temporary folder each time), and each input
    file's size, mode and mtime (a stat walk: a fraction of a second where building is
    seconds). A folder's own mtime is left out for the same reason as its path."""
    options = {k: v for k, v in vars(args).items() if k != "layer_dir"}
    h = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    h.update(Path(__file__).read_bytes())  # a change to how archives are written
    for t in args.layer_tar:
        st = Path(t).stat()
        h.update(f"tar {t}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    for spec in args.layer_dir:
        src_s, _, dest = spec.partition(":")
        src = Path(src_s)
        h.update(f"dir {dest}\0{src.stat().st_mode}\n".encode())
        for p in sorted(p for p in src.rglob("*") if "__pycache__" not in p.parts):
            st = p.lstat()
            rel = p.relative_to(src)
            h.update(f"{rel}\0{st.st_size}\0{st.st_mode}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def build(args: argparse.Namespace) -> None:
    out = Path(args.out)
    # An archive made from the same inputs is kept as it is, mtime included: the
    # import into the local cluster skips an archive it has already imported (the same
    # file, with its tags still at the digests imported), so an unchanged image costs
    # nothing at `make e2e` (it cost 10 s of the first verdict: three archives
    # rewritten, then imported again). The key file also names the archive it was
    # written with (size, mtime, inode): an archive rewritten by anything else (an
    # older checkout's hack/ shares the cache) is rebuilt.
    key_file = out.with_name(out.name + ".inputs")
    key = _inputs_key(args)
    if out.is_file() and key_file.is_file() and key_file.read_text() == _stamped(key, out):
        return
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp_s:
        tmp = Path(tmp_s)
        layers: list[Path] = []
        for i, lt in enumerate(args.layer_tar):
            p = tmp / f"l{i}.tar"
            shutil.copyfile(lt, p)
            layers.append(p)
        for i, spec in enumerate(args.layer_dir):
            src, _, dest = spec.partition(":")
            p = tmp / f"d{i}.tar"
            _dir_layer(Path(src), dest or "/", p)
            layers.append(p)
        diff_ids = []
        names = []
        for p in layers:
            digest = _sha256_file(p)
            diff_ids.append(f"sha256:{digest}")
            names.append(f"{digest}/layer.tar")
        config: dict[str, object] = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": args.env
                or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                **({"Cmd": json.loads(args.cmd)} if args.cmd else {}),
                **({"Entrypoint": json.loads(args.entrypoint)} if args.entrypoint else {}),
                **({"WorkingDir": args.workdir} if args.workdir else {}),
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "graceproof hack/image_archive.py"} for _ in layers],
        }
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        manifest = [{"Config": config_name, "RepoTags": args.tag, "Layers": names}]
        # A name of its own: two runs sharing the cache never write one partial file.
        partial = tmp / "archive.partial"
        with tarfile.open(partial, "w") as tar:
            for p, name in zip(layers, names, strict=True):
                tar.add(p, arcname=name)
            for name, data in (
                (config_name, config_bytes),
                ("manifest.json", json.dumps(manifest).encode()),
            ):
                ti = tarfile.TarInfo(name)
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
        # The key names the file this run wrote (stat before the rename, which keeps
        # its size, mtime and inode): if another run replaces `out` meanwhile, the key
        # no longer matches it and the next run rebuilds.
        stamped = _stamped(key, partial)
        os.replace(partial, out)
    key_tmp = _tmp_key(key_file)
    key_tmp.write_text(stamped)
    os.replace(key_tmp, key_file)


def _tmp_key(key_file: Path) -> Path:
    return key_file.with_name(f"{key_file.name}.{os.getpid()}")


def _stamped(key: str, out: Path) -> str:
    st = out.stat()
    return f"{key} {st.st_size} {st.st_mtime_ns} {st.st_ino}"


def merge(out: Path, archives: list[Path]) -> None:
    """Write `out` with every image of `archives`: shared blobs once, a manifest.json
    entry per image, and a `repositories` entry (repo -> tag -> config id) first, as
    readers that stop at the first metadata file they meet need all tags there."""
    manifest: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}
    blobs: dict[str, tuple[Path, str]] = {}  # name in the archive -> (archive, member)
    for archive in archives:
        with tarfile.open(archive) as tar:
            member = tar.extractfile("manifest.json")
            if member is None:
                raise SystemExit(f"{archive}: no manifest.json (not a docker-save archive)")
            for entry in json.load(member):
                manifest.append(entry)
                config_id = str(entry["Config"]).removesuffix(".json").split("/")[-1]
                for ref in entry.get("RepoTags") or []:
                    repo, _, tag = str(ref).rpartition(":")
                    repositories.setdefault(repo, {})[tag] = config_id
                for name in [entry["Config"], *entry["Layers"]]:
                    blobs.setdefault(str(name), (archive, str(name)))
    partial = out.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        for name, data in (
            ("repositories", json.dumps(repositories).encode()),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
        for name, (archive, member_name) in blobs.items():
            with tarfile.open(archive) as src:
                info = src.getmember(member_name)
                info.name = name
                tar.addfile(info, src.extractfile(member_name))
    os.replace(partial, out)


def main() -> None:
    if sys.argv[1:2] == ["merge"]:
        mp = argparse.ArgumentParser(prog="image_archive.py merge")
        mp.add_argument("--out", required=True, type=Path)
        mp.add_argument("archives", nargs="+", type=Path)
        margs = mp.parse_args(sys.argv[2:])
        merge(margs.out, margs.archives)
        return
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tag", action="append", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layer-tar", action="append", default=[])
    ap.add_argument("--layer-dir", action="append", default=[])
    ap.add_argument("--cmd")
    ap.add_argument("--entrypoint")
    ap.add_argument("--env", action="append")
    ap.add_argument("--workdir")
    build(ap.parse_args())


if __name__ == "__main__":
    main()
