"""Classical anchors: real encoders from imagecodecs, Pillow, PyAV and ffmpeg."""
