"""Reports as remote MTAs write them (RFC 3464 DSNs, RFC 5965 ARF), quoting the recipient's
address and the original headers as real ones do: what the bounce receiver must read without
keeping any of it."""

from __future__ import annotations

import aiosmtplib

DSN = """\
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.remote.example>
To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b0undary"

--b0undary
Content-Type: text/plain

This is the mail system at host mx.remote.example.
<{recipient}>: host mx.remote.example said: 550 5.1.1 <{recipient}>: user unknown

--b0undary
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.remote.example
Arrival-Date: Sat, 28 Nov 2026 10:00:00 +0000

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.remote.example
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected

--b0undary
Content-Type: text/rfc822-headers

Return-Path: <{to}>
From: Casino <noreply@casino.example>
To: {recipient}
Subject: Your offer

--b0undary--
"""

ARF = """\
From: Feedback Loop <fbl@isp.example>
To: {to}
Subject: Abuse report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf-part"

--arf-part
Content-Type: text/plain

This is an email abuse report for an email message received from IP 192.0.2.1.

--arf-part
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <{to}>
Original-Rcpt-To: <{recipient}>
Arrival-Date: Sat, 28 Nov 2026 10:00:00 +0000
Source-IP: 192.0.2.1

--arf-part
Content-Type: message/rfc822

Return-Path: <{to}>
From: Casino <noreply@casino.example>
To: {recipient}
Subject: Your offer

Hello {recipient}
--arf-part--
"""


def dsn(to: str, recipient: str, *, action: str = "failed", status: str = "5.1.1") -> bytes:
    text = DSN.format(to=to, recipient=recipient, action=action, status=status)
    return text.replace("\n", "\r\n").encode()


def arf(to: str, recipient: str, *, feedback_type: str = "abuse") -> bytes:
    text = ARF.format(to=to, recipient=recipient, feedback_type=feedback_type)
    return text.replace("\n", "\r\n").encode()


async def send_as_remote_mta(port: int, to: str, data: bytes) -> None:
    # Bounces travel with the null sender, as RFC 3464 requires.
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        await client.sendmail("", [to], data)
