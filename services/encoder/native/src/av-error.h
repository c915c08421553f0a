// FFmpeg's text for an AVERROR code (for error messages and fallback reasons).
#pragma once

#include <string>

std::string AvErrorText(int code);
