"""htmx's side of a response: one URL answers a page or the fragment htmx asked for, and sends htmx
to a full page load where a plain browser would follow a redirect."""

from flask import make_response, redirect, render_template, request


def asks_for(target_id: str) -> bool:
    """Whether htmx asked to fill the element with this id (HX-Target), rather than for the page."""
    return request.headers.get("HX-Target") == target_id


def vary_on_target(response):
    """Mark a response that depends on HX-Target, so no cache serves the fragment for the page."""
    response.vary.add("HX-Target")
    return response


def page_or_fragment(target_id: str, page_template: str, fragment_template: str, *, status=200, **context):
    """The page template, or the fragment template when htmx asked to fill target_id."""
    template = fragment_template if asks_for(target_id) else page_template
    return vary_on_target(make_response(render_template(template, **context), status))


def redirect_page(location: str, code: int = 303):
    """A redirect; to htmx, an HX-Redirect, so that it loads the page whole (flashed messages, a login
    page) instead of swapping it into the element that asked."""
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 200)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, code=code)
