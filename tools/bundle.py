"""The deployable bundle for the template's runtime and architecture (python3.13, arm64) on any machine.

`make build` runs `python -m tools.bundle build`, then `python -m tools.bundle check`.

Why not `sam build`: the layer's `BuildMethod: python3.13` makes SAM resolve dependencies with a local
python3.13 interpreter (this machine and CI have 3.11; SAM refuses without it) or inside Docker (not
available). The steps SAM would run are few and are done here instead, with the same output layout, so
`sam deploy` (which picks up `.aws-sam/build/template.yaml`) deploys it unchanged:

    .aws-sam/build/template.yaml             the template, CodeUri / ContentUri pointing at the folders below
    .aws-sam/build/SharedLayer/python/...    the layer: `gateway` + layers/shared/requirements.txt
    .aws-sam/build/<Function>/app.py ...     each function's code + its own requirements.txt

Dependencies are target-platform wheels only (`pip install --platform manylinux2014_aarch64
--python-version 3.13 --implementation cp --only-binary=:all:`), never built or byte-compiled by the host.
boto3, botocore, s3transfer and jmespath are left out of the layer: the python3.13 runtime provides them,
and botocore alone is 30 MB (aws-xray-sdk depends on it, so pip would otherwise bring it in).
Installed trees are cached under build/wheels/ keyed by the requirements file's hash.

Sizes are checked against Lambda's limits (function + layers unzipped <= 250 MB, zipped <= 50 MB for a
direct upload) and written to build/bundle-sizes.json; the build fails past a limit.

`check` imports every handler module with the local Python from the built tree alone (`python -I -S`: no
site-packages of the host, so a package missing from the bundle fails the import). Two kinds of module
cannot come from the bundle on an x86 machine and are taken from the host's .venv instead, each reported:
the runtime-provided ones above, and packages whose compiled extension has no pure-Python fallback
(pydantic_core: its aarch64 `.so` cannot load on x86). For those the host's version must equal the
bundled one, so the check still proves the bundle carries the exact release the tests ran against.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from local.cfn import CfnLoader

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / ".aws-sam" / "build"
CACHE_DIR = ROOT / "build" / "wheels"
SIZES_FILE = ROOT / "build" / "bundle-sizes.json"

PLATFORM_ARGS = [
    "--platform",
    "manylinux2014_aarch64",
    "--python-version",
    "3.13",
    "--implementation",
    "cp",
    "--only-binary=:all:",
]
# Provided by the Lambda python3.13 runtime; shipping them would shadow the runtime's own copies.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
MB = 1024 * 1024
UNZIPPED_LIMIT = 250 * MB  # function code + all its layers, unzipped
ZIPPED_LIMIT = 50 * MB  # one zip uploaded directly


@dataclass(frozen=True)
class Artifact:
    logical_id: str
    source: Path  # CodeUri / ContentUri
    kind: str  # "function" or "layer"


def load_template(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    with path.open() as fh:
        return yaml.load(fh, Loader=CfnLoader)


def artifacts(template: dict[str, Any]) -> list[Artifact]:
    found = []
    for logical_id, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            found.append(Artifact(logical_id, ROOT / res["Properties"]["CodeUri"], "function"))
        elif res["Type"] == "AWS::Serverless::LayerVersion":
            found.append(Artifact(logical_id, ROOT / res["Properties"]["ContentUri"], "layer"))
    return found


# ------------------------------------------------------------------------------------------------
# build
# ------------------------------------------------------------------------------------------------


def _installed(requirements: Path) -> Path:
    """Target-platform install of `requirements` (cached by content hash)."""
    digest = hashlib.sha256(requirements.read_bytes() + " ".join(PLATFORM_ARGS).encode()).hexdigest()[:16]
    target = CACHE_DIR / digest
    if (target / ".complete").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(
        [
            *(
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-compile",
                "--disable-pip-version-check",
            ),
            *PLATFORM_ARGS,
            *("--target", str(target), "-r", str(requirements)),
        ],
        check=True,
    )
    for name in os.listdir(target):
        top = re.split(r"[-.]", name, maxsplit=1)[0].lower()
        if top in RUNTIME_PROVIDED or name in ("bin", "__pycache__"):
            path = target / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (target / ".complete").touch()
    return target


def _copy_code(source: Path, dest: Path) -> None:
    shutil.copytree(
        source,
        dest,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "requirements.txt", "*.egg-info"),
    )


def _copy_tree(source: Path, dest: Path) -> None:
    shutil.copytree(source, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"))


def build_artifact(artifact: Artifact, out: Path) -> Path:
    dest = out / artifact.logical_id
    shutil.rmtree(dest, ignore_errors=True)
    # A layer's content is unpacked under /opt; Python finds /opt/python on sys.path.
    code_dir = dest / "python" if artifact.kind == "layer" else dest
    code_dir.mkdir(parents=True)
    requirements = artifact.source / "requirements.txt"
    if requirements.exists():
        _copy_tree(_installed(requirements), code_dir)
    _copy_code(artifact.source, code_dir)
    return dest


def built_template(text: str, built: dict[str, Path]) -> str:
    """The template with each CodeUri / ContentUri pointing at its built folder (relative), as sam build."""
    template = load_template_text(text)
    for logical_id in built:
        props = template["Resources"][logical_id]["Properties"]
        key = "CodeUri" if "CodeUri" in props else "ContentUri"
        pattern = re.compile(rf"^(\s+{key}:\s*){re.escape(props[key])}\s*$", re.M)
        # the same folder may serve several functions: replace within this resource's block only
        start = re.search(rf"^  {logical_id}:\s*$", text, re.M)
        if start is None:
            raise SystemExit(f"{logical_id}: resource not found in template text")
        nxt = re.search(r"^  \S", text[start.end() :], re.M)
        end = start.end() + (nxt.start() if nxt else len(text) - start.end())
        block, n = pattern.subn(rf"\g<1>{logical_id}", text[start.end() : end], count=1)
        if n != 1:
            raise SystemExit(f"{logical_id}: could not rewrite {key}")
        text = text[: start.end()] + block + text[end:]
    return text


def load_template_text(text: str) -> dict[str, Any]:
    return yaml.load(text, Loader=CfnLoader)


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _zip_bytes(path: Path, zip_path: Path) -> int:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(path.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(path))
    return zip_path.stat().st_size


def measure(out: Path, arts: list[Artifact]) -> dict[str, Any]:
    """Unzipped and zipped bytes of each artifact; functions also with their layer (what the limit counts)."""
    sizes: dict[str, Any] = {"limits_mb": {"unzipped_with_layers": 250, "zipped_direct_upload": 50}}
    with tempfile.TemporaryDirectory() as tmp:
        for art in arts:
            unzipped = _tree_bytes(out / art.logical_id)
            zipped = _zip_bytes(out / art.logical_id, Path(tmp) / "a.zip")
            sizes[art.logical_id] = {
                "kind": art.kind,
                "unzipped_bytes": unzipped,
                "zipped_bytes": zipped,
                "unzipped_mb": round(unzipped / MB, 3),
                "zipped_mb": round(zipped / MB, 3),
            }
    layer_mb = sum(
        v["unzipped_mb"] for v in sizes.values() if isinstance(v, dict) and v.get("kind") == "layer"
    )
    for art in arts:
        if art.kind == "function":
            sizes[art.logical_id]["unzipped_with_layers_mb"] = round(
                sizes[art.logical_id]["unzipped_mb"] + layer_mb, 3
            )
    return sizes


def over_limits(sizes: dict[str, Any]) -> list[str]:
    problems = []
    for name, s in sizes.items():
        if not isinstance(s, dict) or "kind" not in s:
            continue
        if s["zipped_mb"] * MB > ZIPPED_LIMIT:
            problems.append(f"{name}: {s['zipped_mb']} MB zipped > 50 MB")
        total = s.get("unzipped_with_layers_mb", s["unzipped_mb"])
        if total * MB > UNZIPPED_LIMIT:
            problems.append(f"{name}: {total} MB unzipped with layers > 250 MB")
    return problems


def build(out: Path = BUILD_DIR) -> dict[str, Any]:
    text = (ROOT / "template.yaml").read_text()
    arts = artifacts(load_template_text(text))
    out.mkdir(parents=True, exist_ok=True)
    built = {art.logical_id: build_artifact(art, out) for art in arts}
    (out / "template.yaml").write_text(built_template(text, built))
    sizes = measure(out, arts)
    SIZES_FILE.parent.mkdir(parents=True, exist_ok=True)
    SIZES_FILE.write_text(json.dumps(sizes, indent=2) + "\n")
    return sizes


# ------------------------------------------------------------------------------------------------
# import check
# ------------------------------------------------------------------------------------------------


def _imports_alone(tree: Path, package: str) -> bool:
    code = f"import sys; sys.path[:0] = [{str(tree)!r}]; import {package}"
    proc = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", code], capture_output=True, env={})
    return proc.returncode == 0


def compiled_only(tree: Path) -> list[str]:
    """Top-level packages of `tree` holding compiled extensions that do not import on this machine.

    A package with a pure-Python fallback (wrapt, charset_normalizer) imports here and stays in the check.
    """
    with_ext = {so.relative_to(tree).parts[0] for so in tree.rglob("*.so") if so.parent != tree}
    return sorted(p for p in with_ext if (tree / p / "__init__.py").exists() and not _imports_alone(tree, p))


def _dist_version(tree: Path, package: str) -> str | None:
    for info in tree.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        if name.lower().replace("-", "_") == package.lower():
            return version
    return None


def _host_site() -> Path:
    import pydantic_core  # noqa: F401 - located, not used

    return Path(sys.modules["pydantic_core"].__file__ or "").parent.parent


_IMPORT = """
import importlib.util, json, sys
path, name, build_paths = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path[:0] = build_paths
spec = importlib.util.spec_from_file_location(name, path)
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
spec.loader.exec_module(module)
assert callable(getattr(module, sys.argv[4]))
"""


def check(out: Path = BUILD_DIR) -> dict[str, Any]:
    template = load_template_text((out / "template.yaml").read_text())
    layer = out / "SharedLayer" / "python"
    host = _host_site()
    report: dict[str, Any] = {"from_host": {}, "handlers": {}}
    with tempfile.TemporaryDirectory() as tmp:
        shim = Path(tmp) / "host"
        shim.mkdir()
        substitutes = {name: "runtime-provided (python3.13 Lambda runtime)" for name in RUNTIME_PROVIDED}
        for package in compiled_only(layer):
            built_version, host_version = _dist_version(layer, package), _dist_version(host, package)
            if built_version != host_version:
                raise SystemExit(f"{package}: bundled {built_version} but host has {host_version}")
            substitutes[package] = f"compiled for aarch64; host copy of the same version {built_version}"
        for name in substitutes:
            (shim / name).symlink_to(host / name)
        report["from_host"] = substitutes
        env = {
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PATH": os.environ["PATH"],
        }

        def import_one(logical_id: str, res: dict[str, Any]) -> tuple[str, str]:
            module, _, attr = res["Properties"]["Handler"].rpartition(".")
            fn_dir = out / res["Properties"]["CodeUri"]
            paths = [str(fn_dir), str(shim), str(layer)]
            proc = subprocess.run(
                [
                    *(sys.executable, "-I", "-S", "-B", "-c", _IMPORT),
                    *(str(fn_dir / f"{module}.py"), logical_id, json.dumps(paths), attr),
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            return logical_id, "ok" if proc.returncode == 0 else proc.stderr

        functions = [
            (k, v) for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"
        ]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = dict(pool.map(lambda item: import_one(*item), functions))
        failed = {name: err for name, err in results.items() if err != "ok"}
        if failed:
            details = "\n".join(f"{name}:\n{err}" for name, err in failed.items())
            raise SystemExit(f"handlers that do not import from the bundle: {', '.join(failed)}\n{details}")
        report["handlers"] = results
    return report


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "build"
    if command == "build":
        sizes = build()
        print(json.dumps(sizes, indent=2))
        problems = over_limits(sizes)
        if problems:
            print("\n".join(["bundle over Lambda's limits:", *problems]), file=sys.stderr)
            return 1
        return 0
    if command == "check":
        print(json.dumps(check(), indent=2))
        return 0
    print("usage: python -m tools.bundle [build|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
