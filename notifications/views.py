from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from communities.navigation import next_url, redirect_next, site_relative
from communities.pagination import Paginator
from communities.permissions import can_retry, can_see_outbox
from communities.rows import Row

from .filters import OutboxFilterSet
from .forms import EmailAddressForm, NotificationPreferenceForm
from .models import Notification, NotificationPreference
from .recipients import channels_out_of_reach
from .services import notification_mark_read, notification_retry, notifications_mark_all_read

INBOX_PAGE_SIZE = 20
OUTBOX_PAGE_SIZE = 50

# What the inbox's and the outbox's rows show (xiachen/templatetags/notification_rows.py), read
# as values() rows rather than model instances: the outbox's 50 messages and their recipients
# were 100 model instances of 30-odd and 11 columns, for the 16 shown.
INBOX_COLUMNS = ("pk", "subject", "kind", "body", "url", "read_at", "sent_at", "created_at")
OUTBOX_COLUMNS = (
    "pk",
    "state",
    "channel",
    "kind",
    "subject",
    "recipient_name",
    "recipient_mobile",
    "unreachable_reason",
    "failure",
    "last_error",
    "sms_parts",
    "attempts",
    "created_at",
    "due_at",
    "sent_at",
)


@login_required
def inbox(request):
    """The user's in-app messages, newest first; unread ones stand out."""
    messages_ = (
        Notification.objects.inbox(request.user)
        .order_by("-created_at", "-pk")
        .values(*INBOX_COLUMNS)
    )
    page = Paginator(messages_, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = [Row(row, link=site_relative(row["url"])) for row in page.object_list]
    return render(request, "notifications/inbox.html", {"page": page})


@login_required
@require_POST
def inbox_read(request, pk):
    """Marks one of the user's messages read, then opens its link (`open`) or goes back."""
    notification = get_object_or_404(Notification.objects.inbox(request.user), pk=pk)
    notification_mark_read(notification=notification)
    back = reverse("notifications:inbox")
    if request.POST.get("open"):
        return redirect(next_url(request, notification.url, back))
    return redirect_next(request, back)


@login_required
@require_POST
def inbox_read_all(request):
    count = notifications_mark_all_read(user=request.user)
    if count:
        messages.success(request, _("All messages are marked as read."))
    return redirect("notifications:inbox")


OUT_OF_REACH_WARNINGS = {
    Notification.Channel.EMAIL: _(
        "You chose e-mail but have no e-mail address: no e-mail can reach you."
    ),
    Notification.Channel.WEBHOOK: _(
        "You chose the group robot, but neither your community nor your agency has one: the "
        "group robot cannot reach you."
    ),
    Notification.Channel.SMS: _(
        "You chose text messages, but there is no mobile on your record: text messages cannot "
        "reach you."
    ),
}


def _warn_out_of_reach(request, chosen: set, out_of_reach: set) -> None:
    """After saving: a warning for each chosen channel that cannot reach the person, and a
    stronger one when none of their channels can."""
    if chosen and chosen <= out_of_reach:
        messages.warning(
            request,
            _(
                "None of the channels you chose can reach you: messages to you will be "
                "recorded as unreachable. Choose the in-app inbox too."
            ),
        )
    for channel, text in OUT_OF_REACH_WARNINGS.items():
        if channel in chosen & out_of_reach:
            messages.warning(request, text)


@login_required
def notification_preferences(request):
    """The channels the user wants messages on, and the e-mail address they go to. A channel
    that cannot reach the user (e-mail without an address, the group robot where none posts) is
    warned of beside the choice, and again after it is saved."""
    preference = NotificationPreference.objects.filter(user=request.user).first()
    if preference is None:
        preference = NotificationPreference(user=request.user)
    # Read before the form is bound: binding writes the typed address onto the user object.
    email_on_file = request.user.email
    out_of_reach = channels_out_of_reach(request.user)
    data = request.POST if request.method == "POST" else None
    form = NotificationPreferenceForm(data, instance=preference, out_of_reach=out_of_reach)
    address_form = EmailAddressForm(data, instance=request.user, prefix="address")
    if data is not None:
        if all([form.is_valid(), address_form.is_valid()]):  # both, to show every error
            form.save()
            user = address_form.save()
            messages.success(request, _("Your notification settings are saved."))
            chosen = {name for name in form.Meta.fields if form.cleaned_data[name]}
            _warn_out_of_reach(request, chosen, channels_out_of_reach(user))
            return redirect("notifications:preferences")
        messages.error(request, _("Please correct the errors below."))
    return render(
        request,
        "notifications/preferences.html",
        {
            "form": form,
            "address_form": address_form,
            "email_on_file": email_on_file,
            "no_robot": Notification.Channel.WEBHOOK in out_of_reach,
            "no_mobile": Notification.Channel.SMS in out_of_reach,
        },
    )


def _outbox_viewer(request):
    """Staff of any place (and the city) may see the outbox; anyone else gets a 403."""
    if not can_see_outbox(request.user):
        raise PermissionDenied
    return Notification.objects.visible_to(request.user)


@login_required
def outbox(request):
    """Messages to the people in the viewer's scope: what is queued, sent, or has failed."""
    visible = _outbox_viewer(request)
    filters = OutboxFilterSet(request.GET, visible)
    # Counted by each branch of the viewer's scope from its own index (Notification's
    # counts_by_state), narrowed by the other filters.
    filters.form.is_valid()
    by_state = filters.filter_queryset(Notification.objects.all(), but="state").counts_by_state(
        request.user
    )
    state_counts = [(state, by_state.get(state.value, 0)) for state in Notification.State]
    selected_state = filters.form.cleaned_data.get("state", "")
    # The list is those counts' rows, narrowed to the chosen state: its size is known, and
    # a second count of the same rows cost as much again (the city's 200,000, 45 ms).
    count = by_state.get(selected_state, 0) if selected_state else sum(by_state.values())
    rows = filters.qs.order_by("-created_at", "-pk").values(
        *OUTBOX_COLUMNS, recipient_username=F(f"recipient__{get_user_model().USERNAME_FIELD}")
    )
    page = Paginator(rows, OUTBOX_PAGE_SIZE, count=count).get_page(request.GET.get("page"))
    page.object_list = [Row(row) for row in page.object_list]
    return render(
        request,
        "notifications/outbox.html",
        {
            "form": filters.form,
            # The filter bar is written once per process for each set of values typed in it
            # ({% memo %}): the form shows these values, and the errors found in them, alone.
            "filter_key": tuple(filters.form.data.get(name) for name in filters.form.fields),
            "page": page,
            "state_counts": state_counts,
            "selected_state": selected_state,
        },
    )


@login_required
@require_POST
def outbox_retry(request, pk):
    """Puts a failed message in the viewer's scope back in the queue."""
    notification = get_object_or_404(_outbox_viewer(request), pk=pk)
    if not can_retry(request.user):
        raise PermissionDenied
    try:
        notification_retry(notification=notification)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("“%(subject)s” is queued to be sent again.") % {"subject": notification.subject},
        )
    return redirect_next(request, reverse("notifications:outbox"))
