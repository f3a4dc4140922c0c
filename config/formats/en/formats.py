"""The academy's date format everywhere (FORMAT_MODULE_PATH): "Mon 30 Nov 2026", 24-hour
times, weeks from Monday. Typed dates are read as ISO or day/month/year, never month first."""

DATE_FORMAT = "D j M Y"
SHORT_DATE_FORMAT = "D j M"
DATETIME_FORMAT = "D j M Y, H:i"
SHORT_DATETIME_FORMAT = "D j M, H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M"]
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S"]
