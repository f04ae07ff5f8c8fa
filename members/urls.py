from . import views

app_name = "members"

urlpatterns = [*views.urls]
