"""``statservice invoices issue/export`` against a real database of each kind."""

import csv
import io
import stat
from datetime import UTC, datetime
from decimal import Decimal

from lxml import etree
from peppol.xsd import validate_xsd
from pypdf import PdfReader
from typer.testing import CliRunner

from billing.invoicing import set_billing_account
from billing.ledger import record_invoice_line
from statservice.cli import app

runner = CliRunner()


def database_url(engine):
    return engine.url.render_as_string(hide_password=False)


def seed(billing_sessions):
    with billing_sessions() as session:
        set_billing_account(session, "org-ku", "Københavns Universitet", cvr="29979812", city="København K")
        record_invoice_line(
            session,
            "org-ku",
            "rel-1",
            "Characteristics",
            Decimal("999.99"),
            now=datetime(2026, 2, 3, tzinfo=UTC),
        )
        record_invoice_line(
            session, "org-sdu", "rel-2", "Attrition", Decimal("10.00"), now=datetime(2026, 2, 4, tzinfo=UTC)
        )
        session.commit()


def test_issue_then_export_each_format(billing_engine, billing_sessions, tmp_path):
    seed(billing_sessions)
    url = database_url(billing_engine)
    issued = runner.invoke(
        app,
        [
            "invoices",
            "issue",
            "--year",
            "2026",
            "--month",
            "2",
            "--issue-date",
            "2026-03-01",
            "--database-url",
            url,
        ],
    )
    assert issued.exit_code == 0, issued.output
    assert "issued 2 invoice(s)" in issued.output

    common = ["invoices", "export", "--organisation", "org-ku", "--year", "2026", "--month", "2"]
    for export_format in ("csv", "pdf", "ubl"):
        out = tmp_path / "exports" / f"invoice.{export_format}"
        result = runner.invoke(
            app, [*common, "--format", export_format, "--out", str(out), "--database-url", url]
        )
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(out.stat().st_mode) == 0o600  # buyer names and amounts: owner only
    rows = list(csv.DictReader(io.StringIO((tmp_path / "exports" / "invoice.csv").read_text())))
    assert rows[-1]["row_type"] == "total" and Decimal(rows[-1]["gross_amount"]) == Decimal("1249.99")
    assert "Københavns Universitet" in PdfReader(tmp_path / "exports" / "invoice.pdf").pages[0].extract_text()
    ubl = (tmp_path / "exports" / "invoice.ubl").read_bytes()
    assert validate_xsd(ubl)[0]
    assert etree.fromstring(ubl).findtext("{*}ID") == "F0000001"


def test_export_errors_are_reported_not_raised(billing_engine, billing_sessions, tmp_path):
    seed(billing_sessions)
    url = database_url(billing_engine)
    common = ["invoices", "export", "--year", "2026", "--month", "2", "--database-url", url]
    missing = runner.invoke(
        app, [*common, "--organisation", "org-ku", "--format", "pdf", "--out", str(tmp_path / "x")]
    )
    assert missing.exit_code == 1 and "no invoice" in missing.output
    runner.invoke(
        app,
        [
            "invoices",
            "issue",
            "--year",
            "2026",
            "--month",
            "2",
            "--issue-date",
            "2026-03-01",
            "--database-url",
            url,
        ],
    )
    # org-sdu has no billing account with a CVR: no Peppol electronic address, so UBL is refused
    no_cvr = runner.invoke(
        app, [*common, "--organisation", "org-sdu", "--format", "ubl", "--out", str(tmp_path / "y")]
    )
    assert no_cvr.exit_code == 2 and "CVR" in no_cvr.output
    bad_format = runner.invoke(
        app, [*common, "--organisation", "org-ku", "--format", "xls", "--out", str(tmp_path / "z")]
    )
    assert bad_format.exit_code == 2
    early = runner.invoke(
        app,
        [
            "invoices",
            "issue",
            "--year",
            "2026",
            "--month",
            "3",
            "--issue-date",
            "2026-03-15",
            "--database-url",
            url,
        ],
    )
    assert early.exit_code == 2 and "can be invoiced from 2026-04-01" in early.output


def test_month_with_a_supplementary_invoice_exports_one_file_each(billing_engine, billing_sessions, tmp_path):
    seed(billing_sessions)
    url = database_url(billing_engine)
    issue = ["invoices", "issue", "--year", "2026", "--month", "2", "--database-url", url]
    assert runner.invoke(app, [*issue, "--issue-date", "2026-03-01"]).exit_code == 0
    with billing_sessions() as session:  # a late line, committed after the first run
        record_invoice_line(
            session, "org-ku", "rel-3", "Late", Decimal("1.00"), now=datetime(2026, 2, 28, tzinfo=UTC)
        )
        session.commit()
    second = runner.invoke(app, [*issue, "--issue-date", "2026-03-02"])
    assert "issued 1 invoice(s)" in second.output
    out = tmp_path / "ku.csv"
    export = ["invoices", "export", "--organisation", "org-ku", "--year", "2026", "--month", "2"]
    result = runner.invoke(app, [*export, "--format", "csv", "--out", str(out), "--database-url", url])
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in tmp_path.glob("ku-*.csv")) == ["ku-F0000001.csv", "ku-F0000003.csv"]
    assert "Late" in (tmp_path / "ku-F0000003.csv").read_text()
