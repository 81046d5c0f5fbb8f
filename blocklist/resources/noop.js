/* pixelwall: this script was blocked; this stand-in does nothing. */
