"""Who may start, stop and resume training runs: :class:`DeploymentGate`, the app's access policy.

Public deployment: when ``SPACE_ID`` is set (a Hugging Face Space), runs are controlled only with
the token in ``XLING_ADMIN_TOKEN``; with no token configured, nobody controls them (read-only).
Elsewhere everybody may. The fine-tune tab asks the gate before every start, stop and resume.

Example:
    >>> gate = DeploymentGate(public=True, admin_token="s3cret")
    >>> gate.check("s3cret"), gate.read_only
    (None, False)
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from xling.config import AppConfig
from xling.errors import XlingError


@dataclass(frozen=True)
class DeploymentGate:
    """Who may start, stop and resume runs.

    On a public deployment (``public``) only a user who gives ``admin_token``; with no token
    configured, nobody (the tab is read-only). Elsewhere (a laptop, a lab machine) everybody.
    The token is never shown or logged (``repr`` leaves it out).
    """

    public: bool = False
    admin_token: str | None = field(default=None, repr=False)

    @property
    def read_only(self) -> bool:
        return self.public and not self.admin_token

    def notice(self) -> str:
        """One line for the page: why the controls are locked or need a token (empty when they are open)."""
        if self.read_only:
            return ("**Read-only**: this is a public deployment (`SPACE_ID` is set) and no `XLING_ADMIN_TOKEN` is "
                    "configured, so runs can be watched here but not started, stopped or resumed.")
        if self.public:
            return "**Public deployment**: starting, stopping and resuming runs needs the admin token."
        return ""

    def check(self, given: str | None) -> None:
        """Raise :class:`~xling.errors.XlingError` unless ``given`` may control runs."""
        if not self.public:
            return
        if not self.admin_token:
            raise XlingError("read-only: this public deployment has no XLING_ADMIN_TOKEN configured, so runs "
                             "cannot be started, stopped or resumed here")
        if not given:
            raise XlingError("enter the admin token to start, stop or resume runs on this public deployment")
        if not hmac.compare_digest(given.encode("utf-8"), self.admin_token.encode("utf-8")):
            raise XlingError("wrong admin token")


def deployment_gate(config: AppConfig) -> DeploymentGate:
    """The gate of an app's settings (``SPACE_ID`` and ``XLING_ADMIN_TOKEN``, read by
    :meth:`xling.config.AppConfig.from_env`).

    Example:
        >>> deployment_gate(AppConfig.from_env({"SPACE_ID": "me/xling"})).read_only
        True
        >>> deployment_gate(AppConfig.from_env({})).public
        False
    """
    return DeploymentGate(public=config.public, admin_token=config.admin_token)
