from .views import activity, doors, notes, notifications, rollcall

app_name = "activities"

urlpatterns = [
    *activity.urls,
    *notifications.urls,
    *notes.urls,
    *doors.urls,
    *rollcall.urls,
]
