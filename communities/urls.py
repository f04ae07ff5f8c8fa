from django.urls import path

from . import views

app_name = "communities"

urlpatterns = [
    path("agreements/<int:pk>/", views.agreement_detail, name="agreement_detail"),
    path("agreements/<int:pk>/scan/", views.agreement_scan, name="agreement_scan"),
]
