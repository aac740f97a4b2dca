"""The embedded backend driven by clients the team did not write: the AWS CLI, a
Celery worker on kombu's SQS transport, and plain boto3, each watched through
``/ws/flow/`` of a real ``manage.py serve``."""
