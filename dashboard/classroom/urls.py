from __future__ import annotations

from django.urls import path

from . import views

app_name = "classroom"
urlpatterns = [
    path("", views.index, name="index"),
    path("start", views.class_start, name="start"),
    path("scenarios/save", views.scenario_save, name="scenario_save"),
    path("present/<str:code>/", views.present, name="present"),
    path("join/", views.join, name="join"),
    path("me/", views.me, name="me"),
    path("leave", views.leave, name="leave"),
]
