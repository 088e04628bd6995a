"""Which ticketing integrations are configured, and their connectors built from the one Settings object.

An integration is configured when its required settings are set (Settings refuses a half-configured
one at start). The order below is the order tickets are opened in when one activity opens them all
(runs started before per-integration activities existed).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from aiva.connectors.base import TicketConnector
from aiva.connectors.github_issues import GitHubIssuesConfig, GitHubIssuesConnector
from aiva.connectors.jira import JiraConfig, JiraConnector
from aiva.connectors.servicenow import ServiceNowConfig, ServiceNowConnector
from aiva.connectors.slack import SlackConfig, SlackConnector
from aiva.connectors.webhook import WebhookConnector
from aiva.errors import ConfigError
from aiva.settings import INTEGRATION_SETTINGS, Settings

INTEGRATIONS = tuple(INTEGRATION_SETTINGS)


def configured(settings: Settings) -> list[str]:
    """The names of the integrations whose required settings are all set."""
    return [name for name, required in INTEGRATION_SETTINGS.items()
            if all(getattr(settings, f) is not None for f in required)]


def _secret(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    return str(value.get_secret_value()) if value is not None else ""


def _config(name: str, s: Settings) -> Any:
    """The connector's own (validated) config model built from the settings."""
    if name == "jira":
        return JiraConfig(
            base_url=str(s.jira_base_url), email=str(s.jira_email), api_token=_secret(s, "jira_api_token"),
            project_key=str(s.jira_project_key), issue_type=s.jira_issue_type, done_transition=s.jira_done_transition,
        )
    if name == "servicenow":
        return ServiceNowConfig(
            instance_url=str(s.servicenow_instance_url), username=str(s.servicenow_username),
            password=_secret(s, "servicenow_password"), table=s.servicenow_table,
            assignment_group=s.servicenow_assignment_group,
        )
    if name == "github":
        return GitHubIssuesConfig(api_url=s.github_api_url, repo=str(s.github_repo), token=_secret(s, "github_token"))
    if name == "slack":
        return SlackConfig(api_url=s.slack_api_url, token=_secret(s, "slack_token"), channel=str(s.slack_channel))
    return None


def check_configured(settings: Settings) -> None:
    """Build every configured integration's config; ValueError naming the AIVA_* variable that is wrong."""
    for name in configured(settings):
        try:
            _config(name, settings)
        except ValidationError as e:
            problems = "; ".join(
                f"AIVA_{name.upper()}_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in e.errors()
            )
            raise ValueError(f"the {name} integration is misconfigured: {problems}") from None


def connector_for(name: str, settings: Settings, http: httpx.AsyncClient) -> TicketConnector:
    """The connector of a configured integration; ConfigError naming the settings otherwise."""
    if name not in INTEGRATION_SETTINGS:
        raise ConfigError(f"unknown integration {name!r} (known: {', '.join(INTEGRATIONS)})")
    if name not in configured(settings):
        needed = ", ".join(f"AIVA_{f.upper()}" for f in INTEGRATION_SETTINGS[name])
        raise ConfigError(f"integration {name!r} is not configured on this worker (set {needed})")
    if name == "webhook":
        return WebhookConnector(http, str(settings.webhook_url), _secret(settings, "webhook_token") or None)
    config = _config(name, settings)
    if name == "jira":
        return JiraConnector(http, config)
    if name == "servicenow":
        return ServiceNowConnector(http, config)
    if name == "github":
        return GitHubIssuesConnector(http, config)
    return SlackConnector(http, config)
