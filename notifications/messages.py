"""What each kind of message says: short, in the site's language (Chinese), fit for a phone,
with a link to the page it is about. `notify()` renders them; rules and services pass only the
object and the facts (`context`) a text needs. The texts read the object's fields by name (an
activity's title and times, a concern's page), so this module needs no other app's code.
"""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from .models import Notification

Kind = Notification.Kind


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    url: str
    # The link a shared channel (a group robot's post, read by everyone in the group) carries
    # instead of `url`, when `url` is personal (a call-out's answer link); None: the same.
    shared_url: str | None = None


def when(moment: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "n月j日 H:i")


def span(activity) -> str:
    end = formats.date_format(timezone.localtime(activity.ends_at), "H:i")
    return f"{when(activity.starts_at)}–{end}"


def day(date: dt.date) -> str:
    return formats.date_format(date, "n月j日")


def _place(activity) -> str:
    return activity.place or activity.community.name


def _upcoming(activity, context):
    return Message(
        _("Reminder: %(title)s") % {"title": activity.title},
        _("%(title)s starts at %(when)s at %(place)s. If you cannot come, ask for leave in time.")
        % {"title": activity.title, "when": when(activity.starts_at), "place": _place(activity)},
        activity.get_absolute_url(),
    )


def _roll_call_due(activity, context):
    return Message(
        _("Roll call due: %(title)s") % {"title": activity.title},
        _("%(title)s ended at %(when)s; %(count)s people still await roll call.")
        % {"title": activity.title, "when": when(activity.ends_at), "count": context["pending"]},
        activity.get_absolute_url(),
    )


def _inactivity(member, context):
    # The same for every member (SAME_FOR_ALL): the week's first sweep nudges tens of thousands.
    return Message(
        _("We have not seen you for a while"),
        _(
            "You have not taken part in a community activity for %(days)s days. Have a look "
            "at what is coming up."
        )
        % {"days": settings.INACTIVE_AFTER_DAYS},
        # What is coming up: the activities the member may sign up for (活动报名).
        reverse("activities:open_activities"),
    )


def _agency_digest(agency, context):
    body = _(
        "Last week (%(start)s–%(end)s) your members were present %(present)s times, absent "
        "%(absent)s, on leave %(leave)s; %(hours)s service hours; attendance rate %(rate)s."
    ) % {
        "start": day(context["start"]),
        "end": day(context["end"]),
        "present": context["present"],
        "absent": context["absent"],
        "leave": context["leave"],
        "hours": floatformat(context["hours"] or 0, -1),
        "rate": context["rate"],
    }
    names, count = context["inactive_names"], context["inactive_count"]
    if count:
        body += " " + _("%(count)s inactive for %(days)s days: %(names)s") % {
            "count": count,
            "days": settings.INACTIVE_AFTER_DAYS,
            "names": "、".join(names) + ("…" if count > len(names) else ""),
        }
    if context.get("review_overdue"):
        body += " " + _("%(count)s records unreviewed for more than %(days)s days.") % {
            "count": context["review_overdue"],
            "days": settings.REVIEW_OVERDUE_DAYS,
        }
    # The office's attendance report (reports.attendance) for the week the digest counts.
    week = urlencode(
        {
            "period": "custom",
            "date_from": context["start"].isoformat(),
            "date_to": context["end"].isoformat(),
        }
    )
    return Message(
        _("Weekly attendance of %(agency)s") % {"agency": agency.short_name or agency.name},
        body,
        f"{reverse('reports:attendance')}?{week}",
    )


def _duty_roster(assignment, context):
    community = assignment.agreement.community
    return Message(
        _("On duty tomorrow at %(community)s") % {"community": community.name},
        _("You are on duty at %(community)s tomorrow, %(date)s.")
        % {"community": community.name, "date": day(assignment.date)},
        # The member's dashboard lists their duty days.
        reverse("reports:dashboard"),
    )


def _activity_changed(activity, context):
    return Message(
        _("Changed: %(title)s") % {"title": activity.title},
        _("%(title)s is now %(when)s at %(place)s.")
        % {"title": activity.title, "when": span(activity), "place": _place(activity)},
        activity.get_absolute_url(),
    )


def _activity_cancelled(activity, context):
    return Message(
        _("Cancelled: %(title)s") % {"title": activity.title},
        _("%(title)s (%(when)s) is cancelled: %(reason)s")
        % {"title": activity.title, "when": span(activity), "reason": context["reason"]},
        activity.get_absolute_url(),
    )


def _registration_approved(registration, context):
    return Message(
        _("Report-in approved: %(community)s") % {"community": registration.community.name},
        _("Your report-in to %(community)s is approved. Welcome!")
        % {"community": registration.community.name},
        reverse("members:report_in"),
    )


def _registration_returned(registration, context):
    return Message(
        _("Report-in returned: %(community)s") % {"community": registration.community.name},
        _("Your report-in to %(community)s was returned: %(reason)s")
        % {"community": registration.community.name, "reason": registration.return_reason},
        reverse("members:report_in"),
    )


def _leave_decided(participation, context):
    activity = participation.activity
    approved = participation.leave_decision == participation.LeaveDecision.APPROVED
    note = getattr(participation, "leave_decision_note", "")
    if approved:
        text = _("Your leave from %(title)s (%(when)s) is approved.")
    elif note:
        text = _(
            "Your leave from %(title)s (%(when)s) is not approved: %(note)s. Please come if you "
            "can."
        )
    else:
        text = _("Your leave from %(title)s (%(when)s) is not approved; please come if you can.")
    return Message(
        _("Leave decided: %(title)s") % {"title": activity.title},
        text % {"title": activity.title, "when": span(activity), "note": note},
        activity.get_absolute_url(),
    )


def _seat_freed(activity, context):
    # The link opens the activity, where the member keeps the seat or gives it back in one tap.
    return Message(
        _("You have a seat: %(title)s") % {"title": activity.title},
        _(
            "A seat on %(title)s (%(when)s, %(place)s) became free and is yours. If you cannot "
            "come, give it back with one tap on the page; the next person in line gets it."
        )
        % {"title": activity.title, "when": span(activity), "place": _place(activity)},
        activity.get_absolute_url(),
    )


def _concern_raised(concern, context):
    where = _(" at %(location)s") % {"location": concern.location} if concern.location else ""
    return Message(
        _("New resident concern: %(title)s") % {"title": concern.title},
        _("%(name)s raised a concern%(where)s: %(title)s")
        % {"name": context["name"], "where": where, "title": concern.title},
        concern.get_absolute_url(),
    )


def _concern_forwarded(concern, context):
    return Message(
        _("Concern forwarded: %(title)s") % {"title": concern.title},
        _("Your concern “%(title)s” was forwarded to %(to)s.")
        % {"title": concern.title, "to": concern.forwarded_to},
        concern.get_absolute_url(),
    )


def _concern_resolved(concern, context):
    return Message(
        _("Concern resolved: %(title)s") % {"title": concern.title},
        _("Your concern “%(title)s” is resolved: %(resolution)s")
        % {"title": concern.title, "resolution": concern.resolution},
        concern.get_absolute_url(),
    )


def _attendance_disputed(dispute, context):
    # Read by community staff: the record's page in their list of disputes.
    activity = dispute.participation.activity
    return Message(
        _("Attendance disputed: %(title)s") % {"title": activity.title},
        _("%(agency)s disputes the record of %(name)s at %(title)s (%(when)s): %(reason)s")
        % {
            "agency": context["agency"],
            "name": context["name"],
            "title": activity.title,
            "when": span(activity),
            "reason": dispute.reason,
        },
        context["url"],
    )


def _dispute_answered(dispute, context):
    activity = dispute.participation.activity
    return Message(
        _("Dispute answered: %(title)s") % {"title": activity.title},
        _("%(community)s answered your dispute about %(name)s at %(title)s: %(answer)s")
        % {
            "community": activity.community.name,
            "name": context["name"],
            "title": activity.title,
            "answer": dispute.answer,
        },
        context["url"],
    )


def _activation(link, context):
    """A member's activation link (members.activation): the link is the message's url, which
    the e-mail and the group robot print below the text. Never a password."""
    return Message(
        _("Activate your Xiachen login"),
        _(
            "%(name)s, %(agency)s has added you to Xiachen (下沉社区). Open the link below "
            "before %(date)s to set your own password; it works once."
        )
        % {"name": context["name"], "agency": context["agency"], "date": day(context["expires"])},
        context["url"],
    )


def _need_claimed(need, context):
    return Message(
        _("Need claimed: %(title)s") % {"title": need.title},
        _("%(name)s claimed the resident need “%(title)s”.")
        % {"name": context["name"], "title": need.title},
        need.get_absolute_url(),
    )


def _need_done(need, context):
    return Message(
        _("Need done, to verify: %(title)s") % {"title": need.title},
        _("%(name)s recorded the resident need “%(title)s” done; please verify it.")
        % {"name": context["name"], "title": need.title},
        need.get_absolute_url(),
    )


def _need_verified(need, context):
    return Message(
        _("Need verified: %(title)s") % {"title": need.title},
        _(
            "%(community)s verified your service on “%(title)s”: %(hours)s hours of voluntary service."  # noqa: E501
        )
        % {
            "community": need.community.name,
            "title": need.title,
            "hours": floatformat(context["hours"], -1),
        },
        need.get_absolute_url(),
    )


def _need_sent_back(need, context):
    return Message(
        _("Need sent back: %(title)s") % {"title": need.title},
        _("%(community)s sent “%(title)s” back to you: %(reason)s")
        % {"community": need.community.name, "title": need.title, "reason": context["reason"]},
        need.get_absolute_url(),
    )


def _need_withdrawn(need, context):
    return Message(
        _("Need withdrawn: %(title)s") % {"title": need.title},
        _("%(community)s withdrew the resident need “%(title)s” you claimed: %(reason)s")
        % {"community": need.community.name, "title": need.title, "reason": context["reason"]},
        need.get_absolute_url(),
    )


def _call_facts(call) -> dict:
    return {
        "title": call.title,
        "community": call.community.name,
        "needed": call.needed,
        "when": span(call),
        "place": call.place,
    }


def _call_out(answer, context):
    """To each member called: the call, and their personal answer link (one tap, no password).
    A group robot's post carries the list of calls instead: everyone in the group reads it."""
    call = answer.call
    # The same words for everyone called: written once per call (a call asks thousands at
    # once, each message rendered for its own link).
    text = call.__dict__.get("_call_out_text")
    if text is None:
        text = call._call_out_text = (
            _("Call-out: %(title)s") % {"title": call.title},
            _(
                "%(community)s urgently needs %(needed)s people: %(title)s, %(when)s, at "
                "%(place)s. Answer with one tap: coming, or cannot come."
            )
            % _call_facts(call),
            reverse("activities:callout_list"),
        )
    subject, body, shared = text
    return Message(subject, body, answer.get_absolute_url(), shared_url=shared)


def _call_out_escalated(call, context):
    facts = {**_call_facts(call), "missing": context["missing"]}
    if context.get("no_offices"):
        body = _(
            "%(community)s is still %(missing)s people short for %(title)s (%(when)s, "
            "%(place)s), and has no agency office to ask."
        )
    elif context.get("street"):
        body = _(
            "%(community)s is still %(missing)s people short for %(title)s (%(when)s, "
            "%(place)s), after asking the agency offices."
        )
    else:
        body = _(
            "%(community)s is still %(missing)s people short for %(title)s (%(when)s, "
            "%(place)s). Send more of your members from the call's page."
        )
    return Message(
        _("Call-out needs more people: %(title)s") % {"title": call.title},
        body % facts,
        call.get_absolute_url(),
    )


def _cancelled(call) -> str:
    """What a cancelled call says to everyone it reached, with the reason when there is one."""
    if call.cancel_reason:
        return _(
            "The call-out %(title)s (%(when)s) is cancelled: %(reason)s. Nobody needs to come."
        )
    return _("The call-out %(title)s (%(when)s) is cancelled; nobody needs to come.")


def _call_out_closed(answer, context):
    if answer._meta.model_name == "callout":
        return _call_out_closed_to_sender(answer)
    call = answer.call
    facts = {**_call_facts(call), "reason": call.cancel_reason}
    coming = answer.answer == answer.Answer.COMING
    if call.state == call.State.CANCELLED:
        body = _cancelled(call)
    elif coming:
        body = _(
            "Enough people are coming for %(title)s. Please come as you said: %(when)s, at "
            "%(place)s."
        )
    else:
        body = _("Enough people are coming for %(title)s; no more are needed. Thank you!")
    return Message(
        _("Call-out closed: %(title)s") % {"title": call.title},
        body % facts,
        answer.get_absolute_url(),
        shared_url=reverse("activities:callout_list"),
    )


def _call_out_closed_to_sender(call):
    """To the agency offices and street officers an escalation asked for more people: the call
    they were sending members to is closed, so they stop."""
    facts = {**_call_facts(call), "reason": call.cancel_reason}
    if call.state == call.State.CANCELLED:
        body = _cancelled(call)
    else:
        body = _(
            "Enough people are coming for %(title)s (%(when)s, %(community)s): "
            "send no more members. Thank you!"
        )
    return Message(
        _("Call-out closed: %(title)s") % {"title": call.title},
        body % facts,
        call.get_absolute_url(),
    )


def _message(obj, context):
    """A message written by the caller: context has subject, body and, if any, url."""
    return Message(context["subject"], context["body"], context.get("url", ""))


TEXTS = {
    Kind.UPCOMING: _upcoming,
    Kind.ROLL_CALL_DUE: _roll_call_due,
    Kind.INACTIVITY: _inactivity,
    Kind.AGENCY_DIGEST: _agency_digest,
    Kind.DUTY_ROSTER: _duty_roster,
    Kind.ACTIVITY_CHANGED: _activity_changed,
    Kind.ACTIVITY_CANCELLED: _activity_cancelled,
    Kind.REGISTRATION_APPROVED: _registration_approved,
    Kind.REGISTRATION_RETURNED: _registration_returned,
    Kind.LEAVE_DECIDED: _leave_decided,
    Kind.SEAT_FREED: _seat_freed,
    Kind.CONCERN_RAISED: _concern_raised,
    Kind.CONCERN_FORWARDED: _concern_forwarded,
    Kind.CONCERN_RESOLVED: _concern_resolved,
    Kind.ACTIVATION: _activation,
    Kind.MESSAGE: _message,
    Kind.ATTENDANCE_DISPUTED: _attendance_disputed,
    Kind.DISPUTE_ANSWERED: _dispute_answered,
    Kind.NEED_CLAIMED: _need_claimed,
    Kind.NEED_DONE: _need_done,
    Kind.NEED_VERIFIED: _need_verified,
    Kind.NEED_SENT_BACK: _need_sent_back,
    Kind.NEED_WITHDRAWN: _need_withdrawn,
    Kind.CALL_OUT: _call_out,
    Kind.CALL_OUT_ESCALATED: _call_out_escalated,
    Kind.CALL_OUT_CLOSED: _call_out_closed,
}


# Kinds whose text says nothing of the object it is about: one rendering serves every message.
SAME_FOR_ALL = {Kind.INACTIVITY}


def text_key(kind: str, obj) -> tuple:
    """What the text of a message depends on, besides its context: `notify` renders a text once
    per key and reuses it for the messages that share it."""
    return (kind,) if kind in SAME_FOR_ALL else (kind, type(obj), obj.pk)


def render(kind: str, obj, context: dict | None = None) -> Message:
    """The message of `kind` about `obj`, in the site's language whoever's request is active."""
    with translation.override(settings.LANGUAGE_CODE):
        message = TEXTS[kind](obj, context or {})
    return Message(message.subject[:200], message.body, message.url, message.shared_url)
