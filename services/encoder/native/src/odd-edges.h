// RGB -> 4:2:0 (or 4:2:2) at an odd width or height, without reading past a row's end.
//
// swscale computes horizontally subsampled chroma from pixel pairs: at an odd width it reads one
// pixel past the end of every row (the next row's first pixel, or past the buffer on the last
// row), and that pixel's colour ends up in the last column. Vertically it point-samples chroma
// rows at a ratio that is not 2:1 at an odd height, so the bottom rows take chroma from the row
// above. H.264 codes the picture one column/row larger anyway, repeating the edge. So: the even
// part goes through swscale as usual (exactly like an even size), and the odd last column and
// last row are converted from tiny copies with that edge repeated (2 x H and W x 2 pixels): the
// result equals converting the edge-padded picture, with no full-frame copy.
#pragma once

#include "sws-converter.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

class OddEdges {
 public:
  // True when `setup` is a same-size packed RGB -> subsampled YUV conversion with an odd side.
  static bool Applies(const SwsSetup& setup);
  // The even part's setup (sizes rounded down to even).
  static SwsSetup EvenPart(const SwsSetup& setup);

  OddEdges() = default;
  ~OddEdges();
  OddEdges(const OddEdges&) = delete;
  OddEdges& operator=(const OddEdges&) = delete;

  bool Configure(const SwsSetup& setup, std::string* error);
  // Writes the last column and/or row of dst (the rest is the even part's).
  void Convert(const uint8_t* const src[], const int srcStride[], uint8_t* const dst[],
               const int dstStride[]);

 private:
  struct Strip {
    SwsConverter sws;
    int width = 0;   // luma samples the strip covers (2 for the column)
    int height = 0;  // rows (2 for the row)
    std::vector<uint8_t> src;
    uint8_t* yuv[4] = {nullptr, nullptr, nullptr, nullptr};
    int yuvStride[4] = {0, 0, 0, 0};
  };
  void Free();
  bool ConfigureStrip(Strip* strip, int width, int height, std::string* error);
  // Copies the strip's visible part into dst, starting at luma column x0 and row y0.
  void Place(const Strip& strip, int x0, int y0, uint8_t* const dst[], const int dstStride[]) const;

  SwsSetup setup_;
  int bpp_ = 0;
  std::unique_ptr<Strip> column_;  // odd width: the last column twice, all rows (padded to even)
  std::unique_ptr<Strip> row_;     // odd height: the last row twice, the even columns
};
