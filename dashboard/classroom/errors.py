"""Classroom failures, each a Flowdash exception so the JSON API gives them its one error
shape, and each message a constant that tests assert word for word."""

from __future__ import annotations

from messaging.errors import FlowdashError

UNKNOWN_CODE = "No class uses the code {code!r}. Check the code on the screen and try again."
JOINING_CLOSED = "This class is not taking new participants right now."
CLASS_ENDED = "This class has ended. Thanks for taking part!"
NOT_JOINED = "Join the class first: enter the code on the screen and a display name."
REMOVED = "The instructor removed you from this class."
NAME_TAKEN = "Someone in this class already uses the name {name!r}; pick another."
NAME_INVALID = (
    "A display name is 1 to 24 letters, digits, spaces, dots, hyphens, underscores or apostrophes."
)
PUBLISHING_LOCKED = "The instructor has paused publishing for now."
TARGET_NOT_ALLOWED = "You may not publish to {name!r} in this class."
QUEUE_NOT_ALLOWED = "You may not work on {name!r} in this class."
RATE_LIMITED = "Slow down: you can publish again in {seconds} s."
ALREADY_HOLDING = "Finish the message you hold first (tap Done or Fail)."
NOTHING_HELD = "You are not holding a message."
TOO_LATE = (
    "Too late: the visibility timeout lapsed, so SQS made the message visible again "
    "for another worker."
)
NOT_LOADED = "Load the scenario first: {kind} {name!r} does not exist."
NO_SUCH_ACTION = "This scenario has no action number {index}."
NO_WORKERS_HERE = "Queue {name!r} is not part of this scenario."
UNKNOWN_SCENARIO = "No scenario has the slug {slug!r}."
SCENARIO_SLUG_TAKEN = "A scenario with the slug {slug!r} exists already; pick another slug."
SCENARIO_NAME_TAKEN = "A scenario named {name!r} exists already; pick another name."
SCENARIO_NAME_MISSING = "Give the scenario a name of 1 to {limit} characters."
NOTHING_TO_SAVE = "There is nothing to save: the topology has no topics and no queues."


class ClassroomError(FlowdashError):
    """A participant or instructor asked for something the class's rules do not allow."""

    status = 403


class UnknownClass(ClassroomError):
    """No class session has that join code."""

    status = 404


class NameTaken(ClassroomError):
    """The display name is in use in this class."""

    status = 409


class ScenarioNotLoaded(ClassroomError):
    """The scenario's resources are not there: it was never loaded, or was reset."""

    status = 409


class UnknownScenario(ClassroomError):
    """No scenario has that slug."""

    status = 404


class ScenarioExists(ClassroomError):
    """Saving would take a slug or name another scenario has."""

    status = 409
