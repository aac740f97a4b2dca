"""HTML forms for the resource pages.

They check only the shape of the input (types, required fields); SNS/SQS's
own rules live in ``messaging.validation`` so the API and the pages give the
same messages. ``add_flowdash_error`` puts a messaging error next to its field.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms

from messaging.errors import FlowdashError
from messaging.subscriptions import PROTOCOLS, SCOPES
from messaging.validation import ATTRIBUTE_TYPES, MessageAttribute


def add_flowdash_error(form: forms.Form, error: FlowdashError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


class TopicForm(forms.Form):
    name = forms.CharField(max_length=300, help_text="Letters, digits, - and _; FIFO ends in .fifo")
    fifo = forms.BooleanField(required=False, label="FIFO")
    content_based_deduplication = forms.BooleanField(required=False)


class QueueForm(forms.Form):
    name = forms.CharField(max_length=100)
    fifo = forms.BooleanField(required=False, label="FIFO")
    content_based_deduplication = forms.BooleanField(required=False)
    visibility_timeout = forms.IntegerField(required=False, help_text="seconds (default 30)")
    delay_seconds = forms.IntegerField(required=False, label="Delay", help_text="seconds")
    retention_seconds = forms.IntegerField(
        required=False, label="Retention", help_text="seconds (default 4 days)"
    )
    receive_wait_seconds = forms.IntegerField(
        required=False, label="Receive wait", help_text="seconds (long polling, 0-20)"
    )
    dead_letter_queue_arn = forms.ChoiceField(required=False, label="Existing dead-letter queue")
    new_dead_letter_queue = forms.CharField(
        required=False, max_length=100, label="…or create a dead-letter queue named"
    )
    max_receive_count = forms.IntegerField(required=False, initial=5, label="maxReceiveCount")

    def __init__(self, *args: Any, queue_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["dead_letter_queue_arn"])
        field.choices = [("", "— none —"), *queue_choices]


class SubscriptionForm(forms.Form):
    protocol = forms.ChoiceField(choices=[(p, p) for p in PROTOCOLS])
    queue_arn = forms.ChoiceField(required=False, label="Queue (for sqs)")
    endpoint = forms.CharField(
        required=False, max_length=2048, label="Endpoint (URL, email or phone)"
    )
    filter_policy = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Filter policy (JSON)"
    )
    filter_policy_scope = forms.ChoiceField(choices=[(s, s) for s in SCOPES])
    raw_message_delivery = forms.BooleanField(required=False)

    def __init__(self, *args: Any, queue_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["queue_arn"])
        field.choices = [("", "— choose —"), *queue_choices]

    def endpoint_value(self) -> str:
        data = self.cleaned_data
        endpoint: str = data["queue_arn"] if data["protocol"] == "sqs" else data["endpoint"]
        return endpoint


class FilterPolicyForm(forms.Form):
    filter_policy = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6}), label="Filter policy (JSON)"
    )
    filter_policy_scope = forms.ChoiceField(choices=[(s, s) for s in SCOPES])
    raw_message_delivery = forms.BooleanField(required=False)


class AttributeForm(forms.Form):
    name = forms.CharField(required=False, max_length=256)
    type = forms.ChoiceField(choices=[(t, t) for t in ATTRIBUTE_TYPES], initial="String")
    value = forms.CharField(required=False, max_length=262144)


AttributeFormSet = forms.formset_factory(AttributeForm, extra=3, max_num=10, absolute_max=10)


def attributes_from(formset: forms.BaseFormSet) -> list[MessageAttribute]:
    return [
        MessageAttribute(
            name=f.cleaned_data["name"], type=f.cleaned_data["type"], value=f.cleaned_data["value"]
        )
        for f in formset.forms
        if f.cleaned_data.get("name")
    ]


class PublishForm(forms.Form):
    subject = forms.CharField(required=False, max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), strip=False)
    message_group_id = forms.CharField(required=False, max_length=200, label="Message group id")
    deduplication_id = forms.CharField(required=False, max_length=200, label="Deduplication id")


class SendForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), strip=False)
    delay_seconds = forms.IntegerField(required=False, label="Delay (seconds)")
    message_group_id = forms.CharField(required=False, max_length=200, label="Message group id")
    deduplication_id = forms.CharField(required=False, max_length=200, label="Deduplication id")


class PeekForm(forms.Form):
    max_messages = forms.IntegerField(initial=10, min_value=1, max_value=10, label="Messages")
    visibility_timeout = forms.IntegerField(
        initial=30, min_value=0, max_value=43200, label="Hide them for (seconds)"
    )
