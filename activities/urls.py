from django.urls import path

from .views import activity, checkin, doors, leave, notes, review, rollcall, rota, signup

app_name = "activities"

urlpatterns = [
    path("", activity.activity_list, name="activity_list"),
    path("week/", activity.activity_week, name="activity_week"),
    path("join/", signup.open_activities, name="open_activities"),
    path("<int:pk>/sign-up/", signup.sign_up, name="sign_up"),
    path("<int:pk>/sign-up/cancel/", signup.sign_up_cancel, name="sign_up_cancel"),
    path("<int:pk>/leave/", leave.leave_request, name="leave_request"),
    path("<int:pk>/leave/withdraw/", leave.leave_withdraw, name="leave_withdraw"),
    path("leave/", leave.leave_request_list, name="leave_request_list"),
    path("leave/<int:pk>/decide/", leave.leave_decide, name="leave_decide"),
    path("new/", activity.activity_new, name="activity_create"),
    path("<int:pk>/", activity.activity_detail, name="activity_detail"),
    path("<int:pk>/edit/", activity.activity_edit, name="activity_edit"),
    path("<int:pk>/cancel/", activity.activity_cancel_page, name="activity_cancel"),
    path("<int:pk>/copy/", activity.activity_copy, name="activity_copy"),
    path("<int:pk>/roll-call/", rollcall.roll_call, name="roll_call"),
    path("<int:pk>/roll-call/search/", rollcall.roll_call_search, name="roll_call_search"),
    path("<int:pk>/board/", rollcall.attendance_board, name="attendance_board"),
    path("<int:pk>/check-in-code/", checkin.check_in_code, name="check_in_code"),
    path("<int:pk>/check-in/<str:token>/", checkin.check_in, name="check_in"),
    path("<int:pk>/doors/", doors.door_units, name="door_units"),
    path("<int:pk>/doors/assignees/", doors.door_assignees_view, name="door_assignees"),
    path("doors/<int:pk>/record/", doors.door_unit_record_view, name="door_unit_record"),
    path("doors/<int:pk>/remove/", doors.door_unit_remove_view, name="door_unit_remove"),
    path("disputes/", review.dispute_list, name="dispute_list"),
    path("records/<int:pk>/answer/", review.dispute_answer, name="dispute_answer"),
    path(
        "records/<int:pk>/backfill/",
        review.participation_backfill_view,
        name="participation_backfill",
    ),
    path("rota/", rota.rota_index, name="rota"),
    path("rota/<int:pk>/", rota.rota_month, name="rota_month"),
    path("rota/<int:pk>/day/", rota.rota_day, name="rota_day"),
    path("rota/<int:pk>/fill/", rota.rota_fill, name="rota_fill"),
    path("rota/<int:pk>/clear/", rota.rota_clear, name="rota_clear"),
    path("updates/", notes.work_update_list, name="work_update_list"),
    path("updates/new/", notes.work_update_create, name="work_update_create"),
    path("concerns/", notes.concern_list, name="concern_list"),
    path("concerns/new/", notes.concern_create, name="concern_create"),
    path("concerns/<int:pk>/", notes.concern_detail, name="concern_detail"),
]
