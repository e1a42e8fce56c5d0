"""Routes of the auth slice: login (password, LDAP, OIDC), tokens, API keys, users, roles,
audit log. Also the resolver that turns a request's credential into a ``Principal``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import delete, insert, select

from e200.auth import accounts, audit, credentials, login, oidc, throttle
from e200.auth.identity import DirectoryUnavailableError
from e200.auth.model import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    AuditPage,
    LoginIn,
    MeOut,
    PasswordChangeIn,
    PasswordResetIn,
    RoleIn,
    RoleOut,
    RolePatch,
    SsoOptions,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)
from e200.auth.tables import login_flow, session
from e200.config import Settings
from e200.db.web import PUBLIC, ConnDep, PrincipalDep, engine_of, requires
from e200.kernel import (
    BigIntId,
    InvalidInputError,
    NotFoundError,
    Offset,
    Permission,
    Principal,
    utc_now,
)

SESSION_COOKIE = "e200_session"
P = Permission
router = APIRouter(prefix="/api/v1", tags=["auth"])
sso_router = APIRouter(prefix="/auth", tags=["auth"], include_in_schema=False)

ANY_USER = requires(None)
ANY_USER_EVEN_BEFORE_PASSWORD_CHANGE = requires(None, during_password_change=True)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def source_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def resolve_principal(request: Request) -> Principal | None:
    """The app's principal resolver: API key, bearer token or session cookie."""
    authorization = request.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" else None
    with engine_of(request).begin() as conn:
        return credentials.principal_from_credentials(
            conn,
            _settings(request),
            bearer=bearer,
            api_key_header=request.headers.get("x-api-key"),
            session_cookie=request.cookies.get(SESSION_COOKIE),
        )


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = _settings(request)
    secure = settings.cookie_secure == "always" or request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_absolute_hours * 3600),
        httponly=True,  # scripts never see the session
        secure=secure,
        samesite="lax",  # not sent on cross-site POSTs; still sent when the SSO redirect returns
        path="/",
    )


def _mark_audited(request: Request) -> None:
    request.state.audited = True  # the route wrote its own audit row


# --- signing in --------------------------------------------------------------------------------


@router.get("/auth/options", response_model=SsoOptions, dependencies=[PUBLIC])
def sign_in_options(request: Request) -> SsoOptions:
    """Which ways of signing in this installation offers (the login page reads it)."""
    settings = _settings(request)
    return SsoOptions(
        ldap=bool(settings.ldap_url),
        oidc=bool(settings.oidc_issuer),
        oidc_label=settings.oidc_display_name,
    )


def _login(request: Request, data: LoginIn, kind: str) -> credentials.IssuedSession:
    _mark_audited(request)
    engine = engine_of(request)
    throttle.check_sign_in(
        engine, _settings(request), username=data.username, source_ip=source_ip(request)
    )
    user_id = login.authenticate(
        engine, _settings(request), data.username, data.password, source_ip=source_ip(request)
    )
    with engine.begin() as conn:
        return credentials.create_session(
            conn,
            _settings(request),
            user_id,
            kind=kind,
            source_ip=source_ip(request),
            user_agent=request.headers.get("user-agent"),
        )


@router.post("/auth/login", dependencies=[PUBLIC])
def login_session(request: Request, response: Response, data: LoginIn) -> dict[str, Any]:
    """Console login: sets an HTTP-only session cookie."""
    issued = _login(request, data, "console")
    _set_session_cookie(request, response, issued.token)
    with engine_of(request).connect() as conn:
        principal = credentials.load_principal(conn, _user_of(request, issued.id), via="session")
    assert principal is not None
    return {"expires_at": issued.expires_at, "must_change_password": principal.must_change_password}


def _user_of(request: Request, session_id: int) -> int:
    with engine_of(request).connect() as conn:
        return int(
            conn.execute(select(session.c.user_id).where(session.c.id == session_id)).scalar_one()
        )


@router.post("/auth/token", response_model=TokenOut, dependencies=[PUBLIC])
def issue_token(request: Request, data: LoginIn) -> TokenOut:
    """REST login: a bearer token with the same idle and absolute timeouts as a session."""
    issued = _login(request, data, "token")
    settings = _settings(request)
    with engine_of(request).connect() as conn:
        principal = credentials.load_principal(conn, _user_of(request, issued.id), via="token")
    assert principal is not None
    return TokenOut(
        token=issued.token,
        expires_at=issued.expires_at,
        idle_timeout_minutes=settings.session_idle_minutes,
        must_change_password=principal.must_change_password,
    )


@router.post("/auth/logout", status_code=204, dependencies=[ANY_USER_EVEN_BEFORE_PASSWORD_CHANGE])
def logout(request: Request, response: Response, conn: ConnDep, principal: PrincipalDep) -> None:
    """Ends this session or token at once (API keys are revoked, not logged out)."""
    _mark_audited(request)
    if principal.via in ("session", "token") and principal.credential_id is not None:
        credentials.revoke_session(conn, principal.credential_id)
    response.delete_cookie(SESSION_COOKIE, path="/")
    audit.record_for(
        conn, principal, action="logout", outcome="success", source_ip=source_ip(request)
    )


@router.get("/auth/me", response_model=MeOut, dependencies=[ANY_USER_EVEN_BEFORE_PASSWORD_CHANGE])
def me(conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    user = accounts.user_by_id(conn, principal.user_id)
    return {
        **user,
        "permissions": sorted(p.value for p in principal.permissions),
        "via": principal.via,
    }


@router.post("/auth/password", status_code=204, dependencies=[ANY_USER_EVEN_BEFORE_PASSWORD_CHANGE])
def change_password(
    request: Request, data: PasswordChangeIn, conn: ConnDep, principal: PrincipalDep
) -> None:
    """Change your own password (required after the first login); other sessions end."""
    accounts.change_own_password(
        conn, _settings(request), principal, data.current_password, data.new_password
    )


# --- OIDC (browser redirects, not part of the REST document) --------------------------------

FLOW_LIFETIME = timedelta(minutes=10)


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


def _safe_return(target: str | None) -> str:
    # Only paths on this site: an open redirect would help phishing.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/console/"
    return target if not urlsplit(target).netloc else "/console/"


@sso_router.get("/oidc/login", dependencies=[PUBLIC])
def oidc_login(request: Request, return_to: str | None = None) -> RedirectResponse:
    settings = _settings(request)
    if not settings.oidc_issuer:
        raise NotFoundError("sign-on method", "oidc")
    try:
        start = oidc.begin_login(settings, _callback_url(request))
    except DirectoryUnavailableError as exc:
        raise login.DirectoryDownError(str(exc)) from exc
    with engine_of(request).begin() as conn:
        conn.execute(delete(login_flow).where(login_flow.c.created_at < utc_now() - FLOW_LIFETIME))
        conn.execute(
            insert(login_flow).values(
                state=start.state,
                nonce=start.nonce,
                code_verifier=start.code_verifier,
                return_to=_safe_return(return_to),
            )
        )
    return RedirectResponse(start.authorize_url, status_code=302)


@sso_router.get("/oidc/callback", name="oidc_callback", dependencies=[PUBLIC])
def oidc_callback(
    request: Request,
    state: str = "",
    code: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> RedirectResponse:
    settings = _settings(request)
    engine = engine_of(request)
    with engine.begin() as conn:
        flow = conn.execute(
            delete(login_flow)
            .where(login_flow.c.state == state)
            .returning(
                login_flow.c.code_verifier,
                login_flow.c.nonce,
                login_flow.c.return_to,
                login_flow.c.created_at,
            )
        ).first()
    if flow is None or flow.created_at < utc_now() - FLOW_LIFETIME:
        raise InvalidInputError(
            "state: unknown or expired sign-on attempt; start again", field="state"
        )
    if error or not code:
        audit.record(
            engine,
            action="login",
            outcome="failure",
            source_ip=source_ip(request),
            detail={"method": "oidc", "reason": error or "no code"},
        )
        raise InvalidInputError(f"the sign-on provider refused: {error_description or error}")
    try:
        identity = oidc.finish_login(
            settings,
            code=code,
            redirect_uri=_callback_url(request),
            code_verifier=flow.code_verifier,
            nonce=flow.nonce,
        )
    except DirectoryUnavailableError as exc:
        raise login.DirectoryDownError(str(exc)) from exc
    except oidc.OidcError as exc:
        audit.record(
            engine,
            action="login",
            outcome="failure",
            source_ip=source_ip(request),
            detail={"method": "oidc", "reason": str(exc)},
        )
        raise login.LoginFailedError(f"single sign-on failed: {exc}") from exc
    user_id = login.complete_external_login(
        engine, settings, identity, source_ip=source_ip(request)
    )
    with engine.begin() as conn:
        issued = credentials.create_session(
            conn,
            settings,
            user_id,
            kind="console",
            source_ip=source_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
    response = RedirectResponse(flow.return_to, status_code=303)
    _set_session_cookie(request, response, issued.token)
    return response


# --- API keys ----------------------------------------------------------------------------------


@router.get(
    "/auth/api-keys", response_model=list[ApiKeyOut], dependencies=[requires(P.MANAGE_INTEGRATIONS)]
)
def my_api_keys(conn: ConnDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    return credentials.list_api_keys(conn, principal.user_id)


@router.post(
    "/auth/api-keys",
    response_model=ApiKeyCreated,
    status_code=201,
    dependencies=[requires(P.MANAGE_INTEGRATIONS)],
)
def create_my_api_key(
    request: Request, data: ApiKeyIn, conn: ConnDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A key acting as you (your roles and scope). The key is shown in this answer only."""
    key, row = credentials.create_api_key(
        conn, principal.user_id, data.name, created_by=principal.user_id, expires_at=data.expires_at
    )
    request.state.audit_detail = {"name": data.name, "prefix": row["prefix"]}
    return {**row, "key": key}


@router.delete(
    "/auth/api-keys/{key_id}",
    response_model=ApiKeyOut,
    dependencies=[requires(P.MANAGE_INTEGRATIONS)],
)
def revoke_my_api_key(key_id: BigIntId, conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    return credentials.revoke_api_key(conn, key_id, owner_ids=[principal.user_id])


# --- users (administration) -------------------------------------------------------------------

MANAGE_USERS = [requires(P.MANAGE_USERS)]


@router.get("/users", response_model=list[UserOut], dependencies=MANAGE_USERS, tags=["users"])
def list_users(
    conn: ConnDep, principal: PrincipalDep, q: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """The users you may manage: those whose whole scope lies inside yours."""
    return accounts.list_users(conn, principal, q=q, status=status)


@router.post(
    "/users", response_model=UserOut, status_code=201, dependencies=MANAGE_USERS, tags=["users"]
)
def create_user(
    request: Request, data: UserIn, conn: ConnDep, principal: PrincipalDep
) -> dict[str, Any]:
    request.state.audit_detail = data.model_dump(exclude={"password"})
    return accounts.create_user(conn, _settings(request), principal, data.model_dump())


@router.get("/users/{username}", response_model=UserOut, dependencies=MANAGE_USERS, tags=["users"])
def get_user(username: str, conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    return accounts.get_user(conn, principal, username)


@router.patch(
    "/users/{username}", response_model=UserOut, dependencies=MANAGE_USERS, tags=["users"]
)
def update_user(
    request: Request, username: str, data: UserPatch, conn: ConnDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Change roles, scope, status (active / disabled / retired). Disabling ends every session
    and key of the user at once."""
    changes = data.model_dump(exclude_unset=True)
    request.state.audit_detail = changes
    return accounts.update_user(conn, principal, username, changes)


@router.post(
    "/users/{username}/password", response_model=UserOut, dependencies=MANAGE_USERS, tags=["users"]
)
def reset_password(
    request: Request,
    username: str,
    data: PasswordResetIn,
    conn: ConnDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    return accounts.reset_password(conn, _settings(request), principal, username, data.password)


@router.post(
    "/users/{username}/unlock", response_model=UserOut, dependencies=MANAGE_USERS, tags=["users"]
)
def unlock_user(username: str, conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    return accounts.unlock_user(conn, principal, username)


@router.get(
    "/users/{username}/api-keys",
    response_model=list[ApiKeyOut],
    dependencies=MANAGE_USERS,
    tags=["users"],
)
def user_api_keys(username: str, conn: ConnDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    user = accounts.get_user(conn, principal, username)
    return credentials.list_api_keys(conn, user["id"])


@router.post(
    "/users/{username}/api-keys",
    response_model=ApiKeyCreated,
    status_code=201,
    dependencies=MANAGE_USERS,
    tags=["users"],
)
def create_user_api_key(
    request: Request, username: str, data: ApiKeyIn, conn: ConnDep, principal: PrincipalDep
) -> dict[str, Any]:
    """A key for a machine client (gateway, integration) acting as that user. Shown once."""
    user = accounts.get_user(conn, principal, username)
    key, row = credentials.create_api_key(
        conn, user["id"], data.name, created_by=principal.user_id, expires_at=data.expires_at
    )
    request.state.audit_detail = {"name": data.name, "prefix": row["prefix"]}
    return {**row, "key": key}


@router.delete(
    "/users/{username}/api-keys/{key_id}",
    response_model=ApiKeyOut,
    dependencies=MANAGE_USERS,
    tags=["users"],
)
def revoke_user_api_key(
    username: str, key_id: BigIntId, conn: ConnDep, principal: PrincipalDep
) -> dict[str, Any]:
    user = accounts.get_user(conn, principal, username)
    return credentials.revoke_api_key(conn, key_id, owner_ids=[user["id"]])


# --- roles -------------------------------------------------------------------------------------


@router.get("/roles", response_model=list[RoleOut], dependencies=MANAGE_USERS, tags=["users"])
def list_roles(conn: ConnDep) -> list[dict[str, Any]]:
    return accounts.list_roles(conn)


@router.post(
    "/roles", response_model=RoleOut, status_code=201, dependencies=MANAGE_USERS, tags=["users"]
)
def create_role(
    request: Request, data: RoleIn, conn: ConnDep, principal: PrincipalDep
) -> dict[str, Any]:
    request.state.audit_detail = data.model_dump()
    return accounts.create_role(conn, principal, data.model_dump())


@router.patch("/roles/{name}", response_model=RoleOut, dependencies=MANAGE_USERS, tags=["users"])
def update_role(
    request: Request, name: str, data: RolePatch, conn: ConnDep, principal: PrincipalDep
) -> dict[str, Any]:
    request.state.audit_detail = data.model_dump(exclude_unset=True)
    return accounts.update_role(conn, principal, name, data.model_dump(exclude_unset=True))


@router.delete("/roles/{name}", status_code=204, dependencies=MANAGE_USERS, tags=["users"])
def delete_role(name: str, conn: ConnDep) -> None:
    accounts.delete_role(conn, name)


# --- audit log ---------------------------------------------------------------------------------


@router.get("/audit", response_model=AuditPage, dependencies=MANAGE_USERS, tags=["audit"])
def search_audit(
    conn: ConnDep,
    principal: PrincipalDep,
    actor: Annotated[str | None, Query(description="User name, exactly")] = None,
    action: Annotated[str | None, Query(description="Part of the action name")] = None,
    target: Annotated[str | None, Query(description="Part of the target")] = None,
    outcome: Annotated[str | None, Query(pattern="^(success|failure|denied)$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Newest first. Managers who do not see the whole grid see the events of the users they
    manage."""
    actor_ids = None if principal.scope.is_unrestricted else accounts.manageable_user_ids(principal)
    return audit.search(
        conn,
        actor=actor,
        action=action,
        target=target,
        outcome=outcome,
        since=since,
        until=until,
        actor_ids=actor_ids,
        limit=limit,
        offset=offset,
    )
