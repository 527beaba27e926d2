"""The wheel carries the catalogs: build it, install it into a clean virtual environment and
load catalog entries by name from there, far from this source tree."""

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_the_catalogs(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    [wheel] = dist.glob("oisa-*.whl")
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
                   check=True, capture_output=True)
    # The clean environment gets oisa's dependencies from ours, after its own site-packages,
    # so the oisa it imports is the installed wheel and not this checkout.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "dependencies-from-test-runner.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = textwrap.dedent("""
        import json, oisa, oisa.catalog
        from oisa.fabric import load_fabric
        from oisa.device import load_profile
        print(json.dumps({
            "module": oisa.__file__,
            "devices": oisa.catalog.catalog_names("devices"),
            "fabrics": oisa.catalog.catalog_names("fabrics"),
            "pair": [c.device.name for c in load_fabric("pair").cards],
        }))
    """)
    done = subprocess.run([str(python), "-c", script], cwd=tmp_path, check=True, capture_output=True, text=True)
    found = json.loads(done.stdout)
    assert found["module"].startswith(str(env_dir))
    assert "h100-like" in found["devices"] and "pair" in found["fabrics"]
    assert found["pair"] == ["h100-like", "h100-like"]
