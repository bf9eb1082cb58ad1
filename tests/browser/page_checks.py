"""What every page must pass in the browser: no sideways scrolling, and axe-core's WCAG A/AA rules."""

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def resize(page, width: int, height: int = 800) -> None:
    """Make the window that size and wait for the next frame: the page's resize handlers (which mark the
    tables that scroll sideways, static/js/app.js) run before it, not by the time Playwright returns."""
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => done()))")


def sideways_overflow(page) -> int:
    """By how many CSS pixels the page is wider than the window (0: it fits)."""
    return page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - document.documentElement.clientWidth"
    )


def assert_fits(page, what: str) -> None:
    """The page scrolls only downwards: nothing makes it wider than the window, once it has settled
    (on a busy machine the measure can come before the page's script or fonts have run their course;
    a page that is too wide stays too wide)."""
    overflow = sideways_overflow(page)
    for _ in range(30):
        if overflow <= 0:
            break
        page.wait_for_timeout(100)
        overflow = sideways_overflow(page)
    if overflow > 0:
        wide = page.evaluate(
            """() => Array.from(document.querySelectorAll('body *'))
                 .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
                 .filter(e => !e.closest('.table-scroll, dialog:not([open])'))
                 .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className)"""
        )
        raise AssertionError(f"{what}: {overflow}px wider than the window; too wide: {wide}")


def axe_violations(page, axe_source: str) -> list[str]:
    """axe-core's WCAG 2.x A and AA violations on the page as it is now, one line each."""
    if not page.evaluate("() => !!window.axe"):
        page.evaluate(axe_source)  # evaluated by the browser's tools, so the page's CSP does not apply
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return [
        f"{violation['id']}: {node['target']} {node.get('failureSummary', '')[:200]}"
        for violation in result["violations"]
        for node in violation["nodes"]
    ]


def assert_accessible(page, axe_source: str, what: str) -> None:
    """No WCAG A/AA violation that axe-core finds."""
    violations = axe_violations(page, axe_source)
    assert violations == [], f"{what}: {violations}"
