"""Every failure a client can tell apart, each with its HTTP status. Raised by domain code,
rendered once by `server/ocs.py`. The message says what was wrong, in words a client developer can act on."""
from __future__ import annotations


class ParleyError(Exception):
    """Base of all expected failures. `status` is what the OCS layer answers."""

    status = 400
    default_message = "bad request"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"

    def headers(self) -> dict[str, str]:
        """Extra response headers (Retry-After on 429 and 503)."""
        return {}


class BadParameter(ParleyError):
    status = 400
    default_message = "a parameter is missing or invalid"


class NotLoggedIn(ParleyError):
    """Raised when a login-required endpoint is called without valid credentials."""
    status = 401
    default_message = "Current user is not logged in"


class Forbidden(ParleyError):
    status = 403
    default_message = "not allowed"


class NotModerator(Forbidden):
    default_message = "only owners and moderators may do this"


class WrongPassword(Forbidden):
    default_message = "wrong or missing room password"


class NotFound(ParleyError):
    status = 404
    default_message = "not found"


class RoomNotFound(NotFound):
    """The same error for a room that does not exist and one the caller may not see (Talk answers
    404 before 403, so guessing tokens reveals nothing)."""
    default_message = "room not found"


class ParticipantNotFound(NotFound):
    default_message = "participant not found"


class UserNotFound(NotFound):
    default_message = "user not found"


class GroupNotFound(NotFound):
    default_message = "group not found"


class AppPasswordNotFound(NotFound):
    default_message = "no such app password"


class SessionNotFound(NotFound):
    default_message = "no session in this room; join the room first"


class NotAllowedHere(ParleyError):
    """An action the room's type does not allow (Talk answers 405, e.g. renaming a one-to-one room)."""
    status = 405
    default_message = "not allowed for this room type"


class PreconditionFailed(ParleyError):
    status = 412
    default_message = "precondition failed"


class AlreadyExists(ParleyError):
    """Nextcloud's provisioning API answers 400 for an existing user or group; so does Parley."""
    status = 400
    default_message = "already exists"


class TooLarge(ParleyError):
    status = 413
    default_message = "too large"


class TooManyAttempts(ParleyError):
    """Raised when a client (or the server as a whole) has failed too many logins lately; answered
    before any password hashing, with Retry-After."""
    status = 429
    default_message = "too many failed attempts; try again later"

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Overloaded(ParleyError):
    """Raised when the password hashers' queue is full: the request is refused at once with
    Retry-After instead of waiting behind others (server/domain/hashing.py)."""
    status = 503
    default_message = "the server is busy checking passwords; retry shortly"

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class MessageTooLong(TooLarge):
    """A chat message over 1000 characters after trimming (the reference crashed with a 500)."""
    default_message = "message must be at most 1000 characters"


class NotAGuest(Forbidden):
    """Only guests have a guest name; logged-in users get 403, as in Talk."""
    default_message = "only guests can set a guest name"


class BadReplyTo(BadParameter):
    """`replyTo` names no replyable message of this room (Talk: 400 {"error": "reply-to"})."""
    default_message = "replyTo must be the id of a replyable message of this room"


class MessageNotFound(NotFound):
    default_message = "message not found in this room"


class NotEditable(NotAllowedHere):
    """Talk answers 405 for system messages, deleted messages and non-file shares."""
    default_message = "this message cannot be changed"


class TooOld(BadParameter):
    default_message = "the message is too old to be edited"


class NotAllowedToChange(Forbidden):
    default_message = "only the author, or a moderator outside one-to-one rooms, may do this"


# -- files and search (issue 11) ----------------------------------------------------------------

class FileNotFound(NotFound):
    """The attachment does not exist in this room, or its message was deleted."""
    default_message = "file not found"


class NoPreview(NotFound):
    default_message = "no preview for this file"


class UploadTooLarge(TooLarge):
    default_message = "the file is larger than the upload limit"


class RangeNotSatisfiable(ParleyError):
    status = 416
    default_message = "the requested range is outside the file"


class InsufficientStorage(ParleyError):
    """The disk is full: the upload was not stored (nothing half-written remains)."""
    status = 507
    default_message = "not enough disk space to store the file"
