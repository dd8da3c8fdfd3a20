#include "shadowpeft/train/loss_curve.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "shadowpeft/core/atomic_file.h"

namespace shadowpeft::train {
namespace {

constexpr double kWidth = 640, kHeight = 400, kLeft = 60, kRight = 20, kTop = 30, kBottom = 45;

}  // namespace

void write_loss_curve_svg(const std::filesystem::path& path, const CurvePoints& train, const CurvePoints& eval) {
  double x_max = 1, y_min = INFINITY, y_max = -INFINITY;
  for (const CurvePoints* points : {&train, &eval})
    for (const auto& [x, y] : *points) {
      x_max = std::max(x_max, x);
      y_min = std::min(y_min, y);
      y_max = std::max(y_max, y);
    }
  if (!std::isfinite(y_min)) y_min = 0, y_max = 1;
  if (y_max - y_min < 1e-9) y_max = y_min + 1;
  const double pad = 0.05 * (y_max - y_min);
  y_min -= pad;
  y_max += pad;
  auto px = [&](double x) { return kLeft + x / x_max * (kWidth - kLeft - kRight); };
  auto py = [&](double y) { return kTop + (y_max - y) / (y_max - y_min) * (kHeight - kTop - kBottom); };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      kWidth, kHeight);
  svg += fmt::format("<text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">shadowpeft training loss</text>\n",
                     kWidth / 2);
  // Axes with five ticks each.
  svg += fmt::format("<path d=\"M{0} {1} V{2} H{3}\" stroke=\"black\" fill=\"none\"/>\n", kLeft, kTop, kHeight - kBottom,
                     kWidth - kRight);
  for (int i = 0; i <= 4; ++i) {
    const double y = y_min + (y_max - y_min) * i / 4, x = x_max * i / 4;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.3g}</text>\n", kLeft - 6, py(y) + 4, y);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0f}</text>\n", px(x), kHeight - kBottom + 16, x);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n", (kLeft + kWidth - kRight) / 2,
                     kHeight - 8);
  if (!train.empty()) {
    std::string d;
    for (const auto& [x, y] : train) d += fmt::format("{}{:.1f} {:.1f} ", d.empty() ? "M" : "L", px(x), py(y));
    svg += fmt::format("<path d=\"{}\" stroke=\"#1f77b4\" stroke-width=\"2\" fill=\"none\"/>\n", d);
  }
  for (const auto& [x, y] : eval)
    svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"#d62728\"/>\n", px(x), py(y));
  svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">train</text>\n", kWidth - kRight - 90, kTop + 14);
  if (!eval.empty()) svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#d62728\">eval</text>\n", kWidth - kRight - 40, kTop + 14);
  svg += "</svg>\n";
  write_text_file_atomically(path, svg);
}

}  // namespace shadowpeft::train
