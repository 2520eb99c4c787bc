// Loads a 68-point keynet model file (the shipped share/keynet/models/ibug_landmarks.safetensors), finds
// the face in a photo with keynet's face finder (the landmark network itself is the detector) and prints
// its 68 points as CSV: point,x,y in the photo's pixels.
//
//   find_face MODEL.safetensors PHOTO.jpg
#include <cstdio>
#include <exception>

#include <keynet/data/ibug.h>
#include <keynet/data/image.h>
#include <keynet/io/checkpoint.h>
#include <keynet/io/safetensors.h>
#include <keynet/layers/resnet.h>
#include <keynet/train/face_finder.h>
#include <keynet/train/model_file.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: find_face MODEL.safetensors PHOTO.jpg\n");
    return 2;
  }
  try {
    const keynet::SafetensorsFile file = keynet::read_safetensors(argv[1]);
    const keynet::train::ModelCard card = keynet::train::ModelCard::from_metadata(file.metadata, argv[1]);
    keynet::Rng unused(0);
    keynet::ResNet18 model(card.input_channels, 2 * card.num_points, unused,
                           keynet::resnet18_head(card.architecture, argv[1]));
    keynet::load_module(model, file, argv[1]);

    keynet::train::FaceFinderOptions options;
    options.framing.framing = keynet::data::Framing::FaceBox;
    options.framing.width = card.input_width;
    options.framing.height = card.input_height;
    options.framing.crop_enlarge = keynet::train::framing_enlarge(card, argv[1]);
    options.num_points = card.num_points;
    options.mirror_permutation = keynet::data::ibug_mirror_permutation();

    const keynet::train::FoundFace face =
        keynet::train::find_face(model, keynet::data::load_image(argv[2]), options, keynet::Device::CPU);
    if (!face.found) {
      std::fprintf(stderr, "%s: no face found\n", argv[2]);
      return 1;
    }
    std::printf("point,x,y\n");
    for (size_t i = 0; i < face.points.size(); ++i)
      std::printf("%zu,%.1f,%.1f\n", i, face.points[i].x, face.points[i].y);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "find_face: %s\n", e.what());
    return 1;
  }
  return 0;
}
