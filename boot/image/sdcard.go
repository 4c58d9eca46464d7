package image

import (
	"context"
	"fmt"
)

// SDCard writes the Raspberry Pi SD-card image.
func SDCard(ctx context.Context, img *Image) (string, error) {
	return "", fmt.Errorf("image: SD card not yet")
}
