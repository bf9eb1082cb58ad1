"""A wheel (what a plain `pip install` builds) carries everything the app needs: templates, static files
and compiled catalogs, and serves its pages without the checkout beside it."""

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run in a fresh interpreter from the unpacked wheel: the checkout must not be what it imports.
SERVE_FROM_WHEEL = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import exastro_mail
    from exastro_mail import create_app
    from exastro_mail.store import migrations
    from exastro_mail.auth.accounts import create_organization
    assert exastro_mail.__file__.startswith(sys.argv[1]), exastro_mail.__file__
    app = create_app({"INSTANCE_PATH": sys.argv[2]})
    with app.app_context():
        migrations.migrate()
        create_organization("acme", "ACME Corp")
    client = app.test_client()
    login = client.get("/acme/login", headers={"Accept-Language": "ja"})
    htmx = client.get("/static/vendor/htmx-2.0.11.min.js")
    print(login.status_code, "ログイン" in login.get_data(as_text=True), htmx.status_code)
    """
)


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((ROOT / name).read_bytes())
    out = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = out.glob("exastro_mail-*.whl")
    return wheel


def test_a_wheel_serves_the_pages_without_the_checkout(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "exastro_mail/templates/base.html",
        "exastro_mail/templates/auth/login.html",
        "exastro_mail/static/vendor/htmx-2.0.11.min.js",
        "exastro_mail/static/js/app.js",
        "exastro_mail/translations/ja/LC_MESSAGES/messages.mo",
    ):
        assert needed in names, needed
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    served = subprocess.run(
        [sys.executable, "-c", SERVE_FROM_WHEEL, str(unpacked), str(tmp_path / "instance")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.split() == ["200", "True", "200"]
