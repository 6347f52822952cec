"""The MNIST classifier behind the image metrics, and the script that trains it."""
