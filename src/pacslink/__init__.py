"""pacslink: a DICOM client for clinics.

Find a patient's studies on every PACS the clinic knows, retrieve them into a local
store, look at them, and receive what modalities send.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Our Implementation Class UID (PS3.7 D.3.3.2), a UUID-derived UID under the 2.25 root
#: (PS3.5 B.2). Fixed for the life of the project.
IMPLEMENTATION_CLASS_UID = "2.25.117853310216574742793851343279338702328"

#: Our Implementation Version Name (PS3.7 D.3.3.2.2): at most 16 characters.
IMPLEMENTATION_VERSION_NAME = f"PACSLINK_{__version__}"[:16]

__all__ = ["IMPLEMENTATION_CLASS_UID", "IMPLEMENTATION_VERSION_NAME", "__version__"]
