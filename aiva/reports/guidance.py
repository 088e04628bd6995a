"""Remediation guidance for reports: the finding's own advice first, else a short generic
text chosen by its CWE (a small table of common weaknesses), else by its category.
"""

from __future__ import annotations

from aiva.enums import FindingCategory
from aiva.schemas import Finding

CWE_GUIDANCE: dict[int, str] = {
    20: "Validate all input against an allow-list of expected types, lengths and formats.",
    22: "Resolve paths against a fixed base directory and reject any that escape it; never pass raw user "
    "input to file APIs.",
    77: "Do not build commands from user input; call programs with an argument list and no shell.",
    78: "Avoid the shell: pass an argument vector to the process API and allow-list any user-chosen values.",
    79: "Encode output for its context (HTML body, attribute, JavaScript, URL); use an auto-escaping "
    "template engine and a Content-Security-Policy.",
    89: "Use parameterised queries or a query builder; never concatenate user input into SQL.",
    94: "Never evaluate user-supplied code or templates; remove eval-like calls or sandbox them strictly.",
    125: "Check buffer bounds before every read; prefer safe containers and length-checked APIs.",
    190: "Check arithmetic for overflow before using results as sizes or indexes.",
    200: "Remove sensitive data from responses, errors and logs; return only what the caller needs.",
    209: "Return generic error messages to clients and keep stack traces and internals in server logs.",
    250: "Run with the least privilege needed; drop root and unneeded capabilities.",
    256: "Hash passwords with a slow salted algorithm (Argon2, scrypt, bcrypt); keep secrets in a vault.",
    269: "Review privilege assignment; grant the minimum roles and check them on every request.",
    287: "Enforce authentication on every entry point with a vetted framework; add MFA where possible.",
    295: "Enable TLS certificate and host name verification; never disable it outside tests.",
    311: "Encrypt sensitive data in transit and at rest with current algorithms.",
    312: "Do not store secrets or personal data in clear text; encrypt them or keep them out of storage.",
    319: "Serve and call only over TLS; redirect plain HTTP and set HSTS.",
    326: "Use keys of current recommended strength (RSA >= 2048 bits, ECC >= 256 bits).",
    327: "Replace broken algorithms (MD5, SHA-1, DES, RC4, ECB mode) with current ones (AES-GCM, SHA-256).",
    328: "Use a strong hash; for passwords use a slow salted algorithm such as Argon2 or bcrypt.",
    330: "Use a cryptographically secure random generator (secrets, /dev/urandom) for security values.",
    345: "Verify the authenticity of data (signatures, MACs) before trusting it.",
    347: "Verify cryptographic signatures with a vetted library and reject unsigned or unverifiable data.",
    352: "Protect state-changing requests with anti-CSRF tokens and SameSite cookies.",
    362: "Protect shared state with proper locking or atomic operations; avoid check-then-act races.",
    377: "Create temporary files with secure APIs (mkstemp) in private directories.",
    400: "Bound resource use: limit request sizes, rates, recursion and time per operation.",
    416: "Avoid use after free: clear pointers after free and prefer ownership-safe constructs.",
    434: "Allow-list upload types, check content, store uploads outside the web root with generated names.",
    476: "Check pointers and optional values for null before use.",
    502: "Do not deserialise untrusted data with native object formats; use a data-only format (JSON) and "
    "validate it.",
    522: "Protect credentials in storage and transit; never send or store them in clear text.",
    532: "Remove secrets and personal data from log messages.",
    601: "Allow-list redirect targets or use relative paths only; never redirect to a raw user-supplied URL.",
    611: "Disable external entities and DTDs in the XML parser (or use defusedxml).",
    613: "Expire sessions on logout and after inactivity; rotate session ids on login.",
    639: "Check object-level authorisation on every access; never trust ids from the client.",
    665: "Initialise resources explicitly before use.",
    668: "Restrict who can reach the resource; do not expose it to wider spheres than needed.",
    693: "Enable the missing protection mechanism (security headers, hardening flags).",
    732: "Tighten permissions on files and resources to the minimum needed.",
    770: "Limit allocation per request and per client (sizes, counts, rates).",
    787: "Check bounds before every write; prefer length-checked APIs and memory-safe code.",
    798: "Remove hard-coded credentials: load them from a secret manager or environment, and rotate the "
    "exposed ones.",
    862: "Add an authorisation check to every protected operation.",
    863: "Fix the authorisation logic: check the caller's rights for this object and action.",
    915: "Allow-list the attributes a request may set (no mass assignment).",
    918: "Allow-list outbound destinations; block internal addresses and re-check after redirects.",
    922: "Store sensitive data in protected storage with restricted access.",
    1021: "Send X-Frame-Options or CSP frame-ancestors to prevent clickjacking.",
    1104: "Replace unmaintained third-party components with maintained alternatives.",
    1321: "Reject __proto__, constructor and prototype keys when merging objects; upgrade the library.",
    1333: "Rewrite the regular expression to avoid catastrophic backtracking, or bound input length.",
}

_CATEGORY_GUIDANCE: dict[FindingCategory, str] = {
    FindingCategory.SCA: "Upgrade the component to a version that fixes the vulnerability, or remove it.",
    FindingCategory.CONTAINER: "Rebuild the image on an updated base image or upgrade the affected package.",
    FindingCategory.SECRET: "Revoke and rotate the exposed secret, then remove it from the code and history.",
    FindingCategory.IAC: "Change the infrastructure definition to the secure setting the rule describes.",
    FindingCategory.DAST: "Fix the weakness in the application code or configuration behind this endpoint.",
    FindingCategory.NETWORK: "Patch or reconfigure the exposed service, or restrict who can reach it.",
    FindingCategory.LICENSE: "Review the licence with legal and replace the component if it is not allowed.",
}

GENERIC_GUIDANCE = "Review the finding, fix the underlying weakness and re-scan to confirm."


def remediation_for(finding: Finding) -> tuple[str, bool]:
    """The remediation text for a finding and whether it is generic (not the scanner's own advice).

    Order: the finding's remediation; for a component with a known fixed version, an
    upgrade instruction; for a secret, revoke and rotate; the first CWE in the table;
    the category's advice; a generic line.
    """
    if finding.remediation:
        return finding.remediation, False
    comp = finding.component
    if comp is not None and comp.fixed_version:
        current = f" {comp.version}" if comp.version else ""
        return f"Upgrade {comp.name}{current} to {comp.fixed_version} or later.", True
    if finding.category is FindingCategory.SECRET:
        return _CATEGORY_GUIDANCE[FindingCategory.SECRET], True
    for cwe in finding.cwes:
        text = CWE_GUIDANCE.get(cwe.id)
        if text:
            return text, True
    return _CATEGORY_GUIDANCE.get(finding.category, GENERIC_GUIDANCE), True
