"""Encrypted PDFs made on the spot: an owner password only, or a user password too."""

from __future__ import annotations

import io


def locked_pdf(text: str, user_password: str) -> bytes:
    """A one-page PDF with ``text``, encrypted (AES-256) with this user password."""
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 8, text)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(pdf.output()))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
