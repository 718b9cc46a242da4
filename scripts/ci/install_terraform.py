#!/usr/bin/env python3
"""Install the pinned Terraform release, verified by its SHA-256, and print the directory that holds it.

    export PATH="$(scripts/ci/install_terraform.py):$PATH"

Used by CI jobs whose image has Python but not Terraform. A `terraform` already on PATH at the pinned version
is used as it is; otherwise the official release zip is downloaded, checked against the checksum pinned
below (the release's published SHA256SUMS entry) and unpacked under build/ci-tools/. Nothing unverified runs.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

TERRAFORM_VERSION = "1.11.4"
# sha256 of terraform_<version>_<platform>.zip from the release's terraform_<version>_SHA256SUMS.
RELEASE_SHA256 = {
    "linux_amd64": "1ce994251c00281d6845f0f268637ba50c0005657eb3cf096b92f753b42ef4dc",
    "linux_arm64": "a43d1d0da9b9bab214a8305a39db0e40869572594ccf50c416a7756499143633",
}
RELEASES_URL = "https://releases.hashicorp.com/terraform"
ROOT = Path(__file__).resolve().parents[2]


class InstallError(RuntimeError):
    pass


def current_platform() -> str:
    machines = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    machine = machines.get(platform.machine().lower(), platform.machine().lower())
    name = f"{platform.system().lower()}_{machine}"
    if name not in RELEASE_SHA256:
        raise InstallError(f"no pinned Terraform checksum for platform '{name}' (pinned: {', '.join(RELEASE_SHA256)})")
    return name


def installed_version(binary: str | Path) -> str | None:
    try:
        out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"Terraform v(\d+\.\d+\.\d+)", out)
    return found.group(1) if found else None


def install(dest: Path, *, base_url: str, expected_sha256: str, platform_name: str, version: str) -> Path:
    """Download, verify and unpack; returns the directory holding the `terraform` binary."""
    bin_dir = dest / f"terraform-{version}"
    binary = bin_dir / "terraform"
    if binary.exists() and installed_version(binary) == version:
        return bin_dir
    url = f"{base_url.rstrip('/')}/{version}/terraform_{version}_{platform_name}.zip"
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError) as exc:
        raise InstallError(f"download of {url} failed: {exc}") from None
    digest = hashlib.sha256(payload).hexdigest()
    if digest != expected_sha256:
        raise InstallError(f"checksum mismatch for {url}: expected {expected_sha256}, got {digest}; not installed")
    try:
        member = zipfile.ZipFile(io.BytesIO(payload)).read("terraform")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise InstallError(f"{url} is not a Terraform release zip ({exc})") from None
    bin_dir.mkdir(parents=True, exist_ok=True)
    partial = bin_dir / "terraform.partial"
    partial.write_bytes(member)
    partial.chmod(0o755)
    os.replace(partial, binary)
    found = installed_version(binary)
    if found != version:
        raise InstallError(f"{binary} reports version {found!r}, expected {version}")
    return bin_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dest = Path(os.environ.get("TERRAFORM_INSTALL_DIR") or ROOT / "build" / "ci-tools")
    parser.add_argument("--dest", type=Path, default=default_dest,
                        help="install directory (default: $TERRAFORM_INSTALL_DIR, else build/ci-tools)")
    parser.add_argument("--force", action="store_true", help="install even if PATH has the pinned version")
    parser.add_argument("--base-url", default=os.environ.get("TERRAFORM_RELEASES_URL", RELEASES_URL),
                        help="release mirror (same layout as the official one)")
    args = parser.parse_args(argv)
    try:
        on_path = shutil.which("terraform")
        if on_path and not args.force and installed_version(on_path) == TERRAFORM_VERSION:
            print(Path(on_path).resolve().parent)
            return 0
        platform_name = current_platform()
        bin_dir = install(args.dest.resolve(), base_url=args.base_url, expected_sha256=RELEASE_SHA256[platform_name],
                          platform_name=platform_name, version=TERRAFORM_VERSION)
    except InstallError as exc:
        print(f"install_terraform: {exc}", file=sys.stderr)
        return 1
    print(bin_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
