"""What is filled in on a PDF form: its fields' values, which are not in the page's text.

A form filled on screen (an application, an expense claim, a contract's blanks) keeps each
value in the field's widget, drawn over the page; PDFium's text of the page holds the printed
labels and not one value, so a filled form read as its empty template. Each page's filled
fields are read here (text, choice, ticked boxes and the picked radio button), labelled by the
field's tooltip name (``/TU``: "姓名", as form tools write the label a reader sees) or, when
that is missing, by its own name unless the name is a tool's default ("Text1", "Check Box3").
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pypdfium2 import PdfDocument, PdfPage

# Names form tools give fields by default; they say nothing to a reader.
_DEFAULT_NAME = re.compile(
    r"^(?:text|textfield|text field|field|fill|check ?box|checkbox|radio|radio button|group|"
    r"dropdown|list ?box|combo ?box|undefined|untitled)[\s_-]*\d*$",
    re.IGNORECASE,
)
TICKED = "✓"


def init_forms(pdf: PdfDocument) -> bool:
    """Load the document's interactive form, if it has one (before any page is loaded, as
    PDFium wants): True when its fields can be read."""
    import pypdfium2.raw as raw

    kind = raw.FPDF_GetFormType(pdf.raw)
    if kind not in (raw.FORMTYPE_ACRO_FORM, raw.FORMTYPE_XFA_FOREGROUND):
        return False
    pdf.init_forms()
    return pdf.formenv is not None


def field_lines(pdf: PdfDocument, page: PdfPage) -> list[str]:
    """The page's filled fields, one "label: value" line each, in the order the page lists
    them (a form's tab order)."""
    import pypdfium2.raw as raw

    form = pdf.formenv.raw if pdf.formenv is not None else None
    if form is None:
        return []
    lines: list[str] = []
    for index in range(raw.FPDFPage_GetAnnotCount(page.raw)):
        annot = raw.FPDFPage_GetAnnot(page.raw, index)
        if not annot:
            continue
        try:
            if raw.FPDFAnnot_GetSubtype(annot) == raw.FPDF_ANNOT_WIDGET:
                line = _field_line(form, annot)
                if line and line not in lines:  # a radio group's buttons share one value
                    lines.append(line)
        finally:
            raw.FPDFPage_CloseAnnot(annot)
    return lines


def _field_line(form: Any, annot: Any) -> str:
    import pypdfium2.raw as raw

    kind = raw.FPDFAnnot_GetFormFieldType(form, annot)
    if kind in (raw.FPDF_FORMFIELD_CHECKBOX, raw.FPDF_FORMFIELD_RADIOBUTTON):
        if not raw.FPDFAnnot_IsChecked(form, annot):
            return ""
        value = TICKED
        if kind == raw.FPDF_FORMFIELD_RADIOBUTTON:  # the option picked, by its own name
            option = _wide(raw.FPDFAnnot_GetFormFieldExportValue, form, annot)
            value = option if option and option.lower() not in ("on", "yes") else TICKED
    elif kind in (
        raw.FPDF_FORMFIELD_TEXTFIELD,
        raw.FPDF_FORMFIELD_COMBOBOX,
        raw.FPDF_FORMFIELD_LISTBOX,
    ):
        value = " ".join(_wide(raw.FPDFAnnot_GetFormFieldValue, form, annot).split())
    else:  # push buttons, signatures: nothing a person filled in as text
        return ""
    if not value:
        return ""
    label = _label(
        _wide(raw.FPDFAnnot_GetFormFieldAlternateName, form, annot),
        _wide(raw.FPDFAnnot_GetFormFieldName, form, annot),
    )
    return f"{label}: {value}" if label else value


def _label(tooltip: str, name: str) -> str:
    """The tooltip name, else the field's own name's last part ("form1[0].姓名[0]" → 姓名)
    unless it is a tool's default."""
    if tooltip.strip():
        return " ".join(tooltip.split())
    last = re.sub(r"\[\d+\]", "", name).rsplit(".", 1)[-1].strip()
    return "" if not last or _DEFAULT_NAME.match(last) else last


def _wide(getter: Callable[..., int], *args: Any) -> str:
    """A PDFium string getter's answer: UTF-16LE with a terminator, asked twice (size, then
    text)."""
    size = getter(*args, None, 0)
    if size <= 2:
        return ""
    buffer = ctypes.create_string_buffer(size)
    getter(*args, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ushort)), size)
    return buffer.raw[: size - 2].decode("utf-16-le", "replace")
