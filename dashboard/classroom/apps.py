from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "dashboard.classroom"
    label = "classroom"
    verbose_name = "Classroom"
