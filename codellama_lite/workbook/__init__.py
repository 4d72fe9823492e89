"""Running the workbook: the papermill runner (``runner``) and the exercises' stubs and checks (``exercises``)."""
