"""README screenshots from the real app in Debian's Chromium: `python docs/make_screenshots.py`."""

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, LiveServer, free_port  # noqa: E402
from tests.conftest import DEFAULT_PASSWORD, build_app, make_org, make_user  # noqa: E402

IMAGES = ROOT / "docs" / "images"
SHOTS = (
    "mail-server-settings.png",
    "delete-dialog.png",
    "oauth-settings.png",
    "phone-settings.png",
    "dark-settings.png",
)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        port = free_port()
        app = build_app(tmp, BASE_URL=f"http://127.0.0.1:{port}")
        with app.app_context():
            make_user(make_org("example", "Example organization"), "admin", admin=True)
        env = {"EXASTRO_MAIL_INSTANCE_PATH": str(tmp / "instance"), "PATH": "/usr/bin:/bin"}
        server = LiveServer(tmp / "instance", port, env)
        try:
            shoot(server.url)
        finally:
            server.stop()


def shoot(url: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1400}, locale="en-US")
        page.goto(f"{url}/example/login")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{url}/example/platform/settings/mailserver")
        page.get_by_label("SMTP server host").fill("smtp.example.com")
        page.get_by_label("STARTTLS").check()
        page.get_by_label("With authentication").check()
        page.get_by_label("Authentication user").fill("mailer")
        page.get_by_label("Authentication password").fill("not-a-real-password")
        page.get_by_label("Source mail address (From)").fill("noreply@example.com")
        page.get_by_label("Source display name").fill("Example notifications")
        page.get_by_role("button", name="Register").click()
        page.get_by_text("Mail sending server settings registered.").wait_for()
        page.screenshot(path=str(IMAGES / "mail-server-settings.png"), full_page=True)
        page.get_by_role("link", name="Delete settings").click()
        page.locator("dialog#delete-dialog").wait_for()
        page.get_by_label("Type Delete to confirm.").fill("Delete")
        page.screenshot(path=str(IMAGES / "delete-dialog.png"))
        page.goto(f"{url}/example/platform/settings/mailserver")
        page.get_by_label("OAuth 2.0 (client credentials), e.g. Microsoft 365").check()
        page.get_by_label("Microsoft 365 tenant (ID or domain)").fill("contoso.onmicrosoft.com")
        page.get_by_label("Authentication user").fill("noreply@contoso.com")
        page.get_by_label("Client ID").fill("0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0")
        page.get_by_label("Client secret").fill("not-a-real-secret")
        page.locator("#row-authentication_method").scroll_into_view_if_needed()
        page.screenshot(path=str(IMAGES / "oauth-settings.png"), full_page=True)
        cookies = page.context.cookies()
        for name, options in (
            ("phone-settings.png", {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2}),
            ("dark-settings.png", {"viewport": {"width": 1100, "height": 900}, "color_scheme": "dark"}),
        ):
            context = browser.new_context(locale="en-US", **options)
            context.add_cookies(cookies)
            other = context.new_page()
            other.goto(f"{url}/example/platform/settings/mailserver")
            other.screenshot(path=str(IMAGES / name))
            context.close()
        browser.close()
    print(f"Wrote {', '.join(str(IMAGES / name) for name in SHOTS)}")


if __name__ == "__main__":
    main()
