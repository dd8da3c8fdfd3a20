#pragma once
// The training curve as a standalone SVG image: logged training loss per step, and evaluation
// loss points when there are any.
#include <filesystem>
#include <utility>
#include <vector>

namespace shadowpeft::train {

using CurvePoints = std::vector<std::pair<double, double>>;  // (step, loss)

void write_loss_curve_svg(const std::filesystem::path& path, const CurvePoints& train, const CurvePoints& eval);

}  // namespace shadowpeft::train
