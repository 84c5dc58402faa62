"""`observer`: a channelized Hotelling model observer, the imaging-science measure of detectability."""
