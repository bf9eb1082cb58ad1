"""Send test mail on the settings page: the POST that starts a run (mailserver/test_runs.py), and the
run's page, which shows its steps as they come and then its result.

With htmx the POST answers the result fragment when the run ends within the wait, else the run's steps
so far (202), which ask for themselves every second until it ends (an empty 204 while no step has ended
since). Without JavaScript the POST redirects to the run's page (POST/redirect/GET), which reloads
itself while the run goes on."""

import functools
import math

from flask import current_app, g, make_response, redirect, render_template, request, url_for
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests

from ..store.secretbox import SecretUnreadable
from ..web.forms import field_problems
from ..web.htmx import asks_for, vary_on_target
from ..web.rate_limits import TEST_MAIL_PER_ADMIN, TEST_MAIL_PER_ORGANIZATION
from . import test_runs
from .endpoint import host_policy
from .forms import MailServerForm
from .last_test import recall, remember
from .page import render_settings
from .rules import check_address
from .store import settings_for
from .testmail import MailTest, SmtpOptions, send_test_mail

TARGET = "test-mail-result"


def start():
    """POST: send a test mail with the values in the form."""
    form = MailServerForm()
    checked = form.check(stored=settings_for(g.org), host_policy=host_policy(current_app.config))
    try:
        recipient = check_address(form.test_recipient.data, True)
    except ValueError as problem:
        form.test_recipient.errors = [str(problem)]
    started = refused = None
    if checked.ok and not form.test_recipient.errors:
        refused = _over_test_mail_limit()
        if refused is None:
            started = _start(form, checked.values, recipient)
    if started is None:
        return _not_sent(form, checked, refused)
    outcome = started.wait(current_app.config["TEST_MAIL_WAIT_SECONDS"])
    if not asks_for(TARGET):
        remember(g.org, started.public_id, form)
        return redirect(url_for(".test_mail_run", run_id=started.public_id), code=303)
    run = test_runs.find(started.public_id, g.org, current_user.id) if outcome is None else None
    outcome = outcome or (run and run.outcome)  # it may have ended since the wait
    return _fragment(200 if outcome else 202, outcome=outcome, run=run, recipient_row=form.test_recipient)


def run_page(run_id: str):
    """GET: one run of this admin's, as it stands: the fragment for htmx, else the whole page."""
    run = test_runs.find(run_id, g.org, current_user.id)
    if run is None:  # not this admin's, or no longer kept
        return redirect(url_for(".settings"), code=303)
    if asks_for(TARGET):
        if run.running and request.args.get("seen") == str(len(run.steps)):
            return vary_on_target(make_response("", 204))  # nothing new: the page keeps what it shows
        return _fragment(outcome=run.outcome, run=run)
    form = MailServerForm()
    stored = settings_for(g.org)
    remembered = recall(g.org)
    if remembered is not None and remembered[0] == run_id:
        for name, value in remembered[1].items():
            form[name].data = value
    elif stored is not None:
        form.fill_from(stored)
    form.test_recipient.data = run.recipient
    return render_settings(form, stored, test_outcome=run.outcome, test_run=run)


def last_run():
    """GET: the page after Send test mail as earlier versions linked it: the last run, if kept."""
    remembered = recall(g.org)
    if remembered is None or remembered[0] is None:
        return redirect(url_for(".settings"), code=303)
    return redirect(url_for(".test_mail_run", run_id=remembered[0]), code=303)


def _start(form, values, recipient) -> test_runs.Started | None:
    options = SmtpOptions.from_config(current_app.config)
    try:
        test = MailTest.prepare(
            g.org, values, recipient, current_user.username, options, remote_addr=request.remote_addr
        )
    except SecretUnreadable as problem:
        form[getattr(problem, "field", "authentication_password")].errors = [str(problem)]
        return None
    work = functools.partial(send_test_mail, test)
    return test_runs.start(g.org, current_user.id, recipient, test.deadline_seconds, work)


def _fragment(status=200, *, outcome=None, run=None, recipient_row=None, **shown):
    updated = settings_for(g.org) if outcome is not None and outcome.status_updated else None
    response = make_response(
        render_template(
            "mailserver/_test_result.html",
            test_outcome=outcome,
            test_run=run,
            updated_status=updated,
            recipient_row=recipient_row,
            **shown,
        ),
        status,
    )
    return vary_on_target(response)


def _not_sent(form, checked, refused: TooManyRequests | None):
    """The answer when nothing was sent: the fields to correct, or the limit reached."""
    status = 429 if refused else 422
    shown = {
        "test_problems": field_problems(form),
        "test_limited": _limited_message(refused) if refused else None,
    }
    if asks_for(TARGET):
        response = _fragment(status, recipient_row=form.test_recipient, **shown)
    else:
        warnings = checked.warnings
        page = render_settings(
            form,
            settings_for(g.org),
            warning=warnings.get("smtp_port"),
            warnings=warnings,
            status=status,
            **shown,
        )
        response = vary_on_target(make_response(page))
    if refused:
        response.headers["Retry-After"] = str(refused.retry_after)
    return response


def _over_test_mail_limit() -> TooManyRequests | None:
    """Count this test mail for its admin and its organization; the refusal past either limit."""
    admin = f"{g.org.id}/{current_user.id}"
    for limit, subject in ((TEST_MAIL_PER_ADMIN, admin), (TEST_MAIL_PER_ORGANIZATION, str(g.org.id))):
        try:
            limit.hit(subject)
        except TooManyRequests as refused:
            return refused
    return None


def _limited_message(refused: TooManyRequests) -> str:
    minutes = max(1, math.ceil(int(refused.retry_after) / 60))
    return ngettext(
        "Too many test mails have been sent from this organization's settings. Try again in %(num)d minute.",
        "Too many test mails have been sent from this organization's settings. Try again in %(num)d minutes.",
        minutes,
    )
