from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from . import definitions_views, receiver, views
from .api import api

urlpatterns = [
    path("", views.flow, name="flow"),
    path("overview/", views.overview, name="overview"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("topics/", views.topic_list, name="topic_list"),
    path("topics/<str:arn>/", views.topic_detail, name="topic_detail"),
    path("topics/<str:arn>/delete", views.topic_delete, name="topic_delete"),
    path("topics/<str:arn>/subscribe", views.topic_subscribe, name="topic_subscribe"),
    path("topics/<str:arn>/publish", views.topic_publish, name="topic_publish"),
    path("subscriptions/<str:arn>/", views.subscription_detail, name="subscription_detail"),
    path("subscriptions/<str:arn>/delete", views.subscription_delete, name="subscription_delete"),
    path("queues/", views.queue_list, name="queue_list"),
    path("queues/<str:arn>/", views.queue_detail, name="queue_detail"),
    path("queues/<str:arn>/delete", views.queue_delete, name="queue_delete"),
    path("queues/<str:arn>/purge", views.queue_purge, name="queue_purge"),
    path("queues/<str:arn>/send", views.queue_send, name="queue_send"),
    path("queues/<str:arn>/peek", views.queue_peek, name="queue_peek"),
    re_path(
        r"^queues/(?P<arn>[^/]+)/messages/(?P<action>delete|release)$",
        views.message_action,
        name="message_action",
    ),
    path("definitions/", definitions_views.definitions_page, name="definitions"),
    path("definitions/import", definitions_views.definitions_apply, name="definitions_apply"),
    path(
        "definitions/download", definitions_views.definitions_download, name="definitions_download"
    ),
    path("class/", include("dashboard.classroom.urls")),
    path("api/", api.urls),
    path("hooks/sns/", receiver.sns_receiver, name="sns_receiver"),
    path("traces/<str:trace_id>/", views.trace_detail, name="trace_detail"),
    path("admin/topology/", admin.site.admin_view(views.admin_topology), name="admin_topology"),
    path("admin/", admin.site.urls),
]
