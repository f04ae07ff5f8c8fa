from .views import activity, notifications

app_name = "activities"

urlpatterns = [
    *activity.urls,
    *notifications.urls,
]
