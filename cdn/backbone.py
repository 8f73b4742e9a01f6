"""The built-in global backbone: interconnection cities and the corridors between them.

Theory of operation: this file is data, not logic. ``NODES`` are cities where
networks meet (internet exchanges, cable landing hubs, cloud regions); each is
``(name, lat, lon)``. ``LINKS`` are corridors ``(a, b, kind)``: ``"land"`` for
terrestrial fiber (which follows roads and railways, so it is much longer than
the great circle) and ``"sea"`` for submarine cable (laid close to the great
circle between its landing points; the bends are the landing points
themselves, or waypoints where a cable rounds a coast). :mod:`cdn.network` turns these into a graph with one global
stretch per kind, so a path bends the way real traffic does: Lagos to Mumbai
goes up the West African coast to Lisbon and back down through Suez, Sao Paulo
to Europe goes through Fortaleza and EllaLink or through Miami.

Rules for this file: corridors are chosen from geography and from cables that
exist (named in the comments), never to fit one measured pair. Coordinates are
city centres (or the landing town), good to a few kilometres. Keep the lists
sorted by region so a reader can check coverage at a glance.
"""

from __future__ import annotations

LAND = "land"
SEA = "sea"

# Waypoints where cables round a coast: a link's length is measured through them,
# so a cable never takes a great circle across a continent.
CABO_FRIO = (-23.2, -41.8)
OFF_SALVADOR = (-13.0, -38.2)
OFF_RECIFE = (-8.0, -34.5)
OFF_NATAL = (-5.5, -35.0)
BRAZIL_COAST = (CABO_FRIO, OFF_SALVADOR, OFF_RECIFE, OFF_NATAL)  # south to north
OFF_DAKAR = (14.5, -18.0)
CAPE_PALMAS = (4.3, -8.0)
OFF_MOGADISHU = (2.0, 46.2)
CAPE_GUARDAFUI = (11.9, 51.6)
GULF_OF_ADEN = (12.8, 50.5)
OFF_SALALAH = (16.8, 54.3)
RAS_AL_HADD = (22.6, 60.0)

NODES: tuple[tuple[str, float, float], ...] = (
    # North America
    ("Seattle", 47.61, -122.33),
    ("Portland", 45.52, -122.68),  # Hillsboro landing (FASTER, Hawaiki, NCP)
    ("San Jose", 37.34, -121.89),
    ("Los Angeles", 34.05, -118.24),
    ("Phoenix", 33.45, -112.07),
    ("Salt Lake City", 40.76, -111.89),
    ("Denver", 39.74, -104.99),
    ("Dallas", 32.78, -96.80),
    ("Houston", 29.76, -95.37),
    ("Kansas City", 39.10, -94.58),
    ("Omaha", 41.26, -95.93),
    ("Minneapolis", 44.98, -93.27),
    ("Chicago", 41.88, -87.63),
    ("Atlanta", 33.75, -84.39),
    ("Miami", 25.76, -80.19),  # Boca Raton / Jacksonville landings
    ("Ashburn", 39.04, -77.49),  # Virginia Beach landings (MAREA, Dunant, BRUSA)
    ("New York", 40.71, -74.01),
    ("Boston", 42.36, -71.06),
    ("Toronto", 43.65, -79.38),
    ("Montreal", 45.50, -73.57),
    ("Vancouver", 49.28, -123.12),
    ("Calgary", 51.05, -114.07),
    ("Mexico City", 19.43, -99.13),
    ("Honolulu", 21.31, -157.86),
    # Central and South America
    ("Panama City", 8.98, -79.52),
    ("Bogota", 4.71, -74.07),
    ("Lima", -12.05, -77.04),
    ("Santiago", -33.45, -70.67),  # Valparaiso landing (Curie)
    ("Buenos Aires", -34.60, -58.38),
    ("Sao Paulo", -23.55, -46.63),  # Santos / Praia Grande landings
    ("Rio de Janeiro", -22.91, -43.17),
    ("Fortaleza", -3.73, -38.52),
    # Europe
    ("London", 51.51, -0.13),
    ("Dublin", 53.35, -6.26),
    ("Amsterdam", 52.37, 4.90),
    ("Brussels", 50.85, 4.35),
    ("Paris", 48.86, 2.35),
    ("Frankfurt", 50.11, 8.68),
    ("Marseille", 43.30, 5.37),
    ("Madrid", 40.42, -3.70),
    ("Barcelona", 41.39, 2.17),
    ("Bilbao", 43.26, -2.93),
    ("Lisbon", 38.72, -9.14),  # Sines / Seixal landings (EllaLink, Equiano, 2Africa)
    ("Milan", 45.46, 9.19),
    ("Zurich", 47.38, 8.54),
    ("Vienna", 48.21, 16.37),
    ("Berlin", 52.52, 13.40),
    ("Copenhagen", 55.68, 12.57),
    ("Stockholm", 59.33, 18.07),
    ("Helsinki", 60.17, 24.94),
    ("Warsaw", 52.23, 21.01),
    ("Budapest", 47.50, 19.04),
    ("Athens", 37.98, 23.73),
    ("Istanbul", 41.01, 28.98),
    ("Moscow", 55.76, 37.62),
    ("Palermo", 38.12, 13.36),  # Sicily hub (SEA-ME-WE, AAE-1, MedNautilus)
    # Middle East
    ("Tel Aviv", 32.09, 34.78),
    ("Alexandria", 31.20, 29.92),
    ("Suez", 29.97, 32.55),
    ("Jeddah", 21.49, 39.19),
    ("Riyadh", 24.71, 46.68),
    ("Bahrain", 26.23, 50.59),
    ("Doha", 25.29, 51.53),
    ("Dubai", 25.20, 55.27),
    ("Fujairah", 25.13, 56.33),
    ("Muscat", 23.59, 58.41),
    ("Karachi", 24.86, 67.01),
    # Africa
    ("Djibouti", 11.59, 43.15),
    ("Mombasa", -4.04, 39.67),
    ("Nairobi", -1.29, 36.82),
    ("Dar es Salaam", -6.79, 39.21),
    ("Maputo", -25.97, 32.57),
    ("Durban", -29.86, 31.02),  # Mtunzini landing (EASSy, SEACOM, SAFE)
    ("Johannesburg", -26.20, 28.05),
    ("Cape Town", -33.92, 18.42),  # Melkbosstrand / Yzerfontein landings
    ("Luanda", -8.84, 13.23),
    ("Lagos", 6.52, 3.38),
    ("Accra", 5.60, -0.19),
    ("Dakar", 14.72, -17.47),
    ("Casablanca", 33.57, -7.59),
    # South and East Asia
    ("Mumbai", 19.08, 72.88),
    ("Delhi", 28.61, 77.21),
    ("Chennai", 13.08, 80.27),
    ("Colombo", 6.93, 79.85),
    ("Singapore", 1.35, 103.82),
    ("Kuala Lumpur", 3.14, 101.69),
    ("Bangkok", 13.76, 100.50),
    ("Jakarta", -6.21, 106.85),
    ("Manila", 14.60, 120.98),
    ("Hong Kong", 22.32, 114.17),
    ("Taipei", 25.03, 121.57),
    ("Shanghai", 31.23, 121.47),
    ("Beijing", 39.90, 116.41),
    ("Seoul", 37.57, 126.98),
    ("Busan", 35.18, 129.08),
    ("Tokyo", 35.68, 139.65),
    ("Osaka", 34.69, 135.50),
    ("Guam", 13.44, 144.79),
    # Oceania
    ("Sydney", -33.87, 151.21),
    ("Melbourne", -37.81, 144.96),
    ("Adelaide", -34.93, 138.60),
    ("Perth", -31.95, 115.86),
    ("Auckland", -36.85, 174.76),
)

# (a, b, kind) or (a, b, kind, waypoints from a to b)
LINKS: tuple[tuple, ...] = (
    # North America: the long-haul fiber routes along the interstates and railways
    ("Seattle", "Vancouver", LAND),
    ("Seattle", "Portland", LAND),
    ("Portland", "San Jose", LAND),
    ("Portland", "Salt Lake City", LAND),  # via Boise
    ("Seattle", "Minneapolis", LAND),  # northern route via Spokane, Billings, Fargo
    ("Vancouver", "Calgary", LAND),
    ("Calgary", "Toronto", LAND),  # trans-Canada via Winnipeg
    ("San Jose", "Los Angeles", LAND),
    ("San Jose", "Salt Lake City", LAND),  # via Reno
    ("Los Angeles", "Phoenix", LAND),
    ("Los Angeles", "Salt Lake City", LAND),  # via Las Vegas
    ("Phoenix", "Dallas", LAND),  # via El Paso
    ("Salt Lake City", "Denver", LAND),
    ("Denver", "Kansas City", LAND),
    ("Denver", "Dallas", LAND),
    ("Kansas City", "Dallas", LAND),
    ("Kansas City", "Chicago", LAND),
    ("Denver", "Omaha", LAND),  # the I-80 / Union Pacific corridor
    ("Omaha", "Chicago", LAND),
    ("Omaha", "Kansas City", LAND),
    ("Minneapolis", "Chicago", LAND),
    ("Dallas", "Houston", LAND),
    ("Dallas", "Atlanta", LAND),
    ("Houston", "Atlanta", LAND),  # via New Orleans
    ("Dallas", "Mexico City", LAND),  # via Laredo, Monterrey
    ("Atlanta", "Miami", LAND),
    ("Atlanta", "Ashburn", LAND),  # via Charlotte
    ("Atlanta", "Chicago", LAND),  # via Nashville
    ("Chicago", "Ashburn", LAND),  # via Columbus
    ("Chicago", "New York", LAND),  # via Cleveland
    ("Chicago", "Toronto", LAND),
    ("Ashburn", "New York", LAND),
    ("New York", "Boston", LAND),
    ("New York", "Toronto", LAND),  # via Buffalo
    ("New York", "Montreal", LAND),
    ("Toronto", "Montreal", LAND),
    # Caribbean and South America
    ("Miami", "Panama City", SEA),  # ARCOS, MAYA-1
    ("Miami", "Bogota", SEA),  # landing at Barranquilla / Cartagena
    ("Panama City", "Lima", SEA),  # SAm-1, PCCS
    ("Bogota", "Lima", LAND),  # via Quito
    ("Lima", "Santiago", SEA),  # SAm-1, Prat
    ("Los Angeles", "Santiago", SEA),  # Curie
    ("Santiago", "Buenos Aires", LAND),  # across the Andes
    ("Buenos Aires", "Sao Paulo", LAND),
    ("Sao Paulo", "Rio de Janeiro", LAND),
    ("Rio de Janeiro", "Fortaleza", SEA, BRAZIL_COAST),  # Monet, GlobeNet coastal segments
    ("Fortaleza", "Miami", SEA),  # Monet, GlobeNet, AMX-1
    ("Sao Paulo", "New York", SEA, BRAZIL_COAST),  # Seabras-1, around the bulge
    # Pacific
    ("Los Angeles", "Honolulu", SEA),
    ("San Jose", "Honolulu", SEA),
    ("Honolulu", "Guam", SEA),  # SEA-US, AAG
    ("Honolulu", "Sydney", SEA),  # Southern Cross via Fiji
    ("Honolulu", "Auckland", SEA),
    ("Auckland", "Los Angeles", SEA),  # Southern Cross NEXT
    ("Auckland", "Sydney", SEA),
    ("Tokyo", "Portland", SEA),  # FASTER, JUPITER
    ("Tokyo", "Los Angeles", SEA),  # Unity, JUPITER
    ("Taipei", "Los Angeles", SEA),  # PLCN
    ("Guam", "Tokyo", SEA),
    ("Guam", "Manila", SEA),
    ("Guam", "Sydney", SEA),  # JGA South
    # Transatlantic
    ("New York", "London", SEA),  # AC-1, TAT-14, Grace Hopper (Bude)
    ("Boston", "Dublin", SEA),  # Hibernia Express via Halifax
    ("New York", "Dublin", SEA),  # Havfrue
    ("Ashburn", "Bilbao", SEA),  # MAREA
    ("Ashburn", "Paris", SEA),  # Dunant (Saint-Hilaire-de-Riez)
    # Europe
    ("London", "Dublin", SEA),
    ("London", "Amsterdam", SEA),
    ("London", "Paris", LAND),
    ("Amsterdam", "Brussels", LAND),
    ("Brussels", "Paris", LAND),
    ("Amsterdam", "Frankfurt", LAND),
    ("Brussels", "Frankfurt", LAND),
    ("Paris", "Frankfurt", LAND),
    ("Paris", "Zurich", LAND),
    ("Paris", "Marseille", LAND),
    ("Paris", "Bilbao", LAND),  # via Bordeaux
    ("Bilbao", "Madrid", LAND),
    ("Madrid", "Barcelona", LAND),
    ("Barcelona", "Marseille", LAND),
    ("Madrid", "Lisbon", LAND),
    ("Marseille", "Milan", LAND),
    ("Frankfurt", "Zurich", LAND),
    ("Zurich", "Milan", LAND),
    ("Frankfurt", "Berlin", LAND),
    ("Amsterdam", "Berlin", LAND),  # via Hanover
    ("Frankfurt", "Vienna", LAND),  # via Munich
    ("Berlin", "Warsaw", LAND),
    ("Berlin", "Copenhagen", LAND),  # via Hamburg
    ("Amsterdam", "Copenhagen", LAND),  # via Hamburg
    ("Copenhagen", "Stockholm", LAND),
    ("Stockholm", "Helsinki", SEA),  # C-Lion, Sweden-Finland
    ("Helsinki", "Moscow", LAND),  # via St Petersburg
    ("Warsaw", "Moscow", LAND),  # via Minsk
    ("Vienna", "Warsaw", LAND),
    ("Vienna", "Budapest", LAND),
    ("Budapest", "Istanbul", LAND),  # via Belgrade, Sofia
    ("Istanbul", "Athens", LAND),
    ("Milan", "Palermo", LAND),  # down the peninsula via Rome
    ("Marseille", "Palermo", SEA),  # SEA-ME-WE, AAE-1 Mediterranean segments
    ("Athens", "Palermo", SEA),
    ("Tel Aviv", "Palermo", SEA),  # MedNautilus
    ("Lisbon", "Casablanca", SEA),
    ("Casablanca", "Madrid", LAND),  # across the Strait of Gibraltar
    # Suez corridor, Gulf and India
    ("Palermo", "Alexandria", SEA),
    ("Alexandria", "Suez", LAND),  # the terrestrial crossing of Egypt
    ("Suez", "Jeddah", SEA),  # Red Sea
    ("Jeddah", "Djibouti", SEA),
    ("Jeddah", "Riyadh", LAND),
    ("Riyadh", "Bahrain", LAND),  # via Dammam
    ("Bahrain", "Doha", SEA),
    ("Doha", "Dubai", SEA),
    ("Dubai", "Fujairah", LAND),
    ("Fujairah", "Muscat", SEA),
    ("Djibouti", "Muscat", SEA, (GULF_OF_ADEN, OFF_SALALAH, RAS_AL_HADD)),  # SEA-ME-WE, AAE-1
    ("Djibouti", "Mumbai", SEA, (GULF_OF_ADEN,)),  # PEACE, AAE-1 branch
    ("Fujairah", "Karachi", SEA),
    ("Fujairah", "Mumbai", SEA),  # FALCON, IMEWE
    ("Muscat", "Mumbai", SEA),  # TGN-Gulf, Raman
    ("Mumbai", "Delhi", LAND),
    ("Mumbai", "Chennai", LAND),  # via Bangalore
    ("Chennai", "Colombo", SEA),
    ("Mumbai", "Colombo", SEA),  # SEA-ME-WE
    ("Chennai", "Singapore", SEA),  # i2i, TIC
    ("Colombo", "Singapore", SEA),  # SEA-ME-WE via Penang
    # Africa: 2Africa, WACS, SAT-3, Equiano along the west; EASSy, SEACOM along the east
    ("Lisbon", "Dakar", SEA),
    ("Lisbon", "Lagos", SEA, (OFF_DAKAR, CAPE_PALMAS)),  # Equiano, MainOne
    ("Fortaleza", "Lisbon", SEA),  # EllaLink (Sines)
    ("Fortaleza", "Luanda", SEA),  # SACS
    ("Dakar", "Accra", SEA, (CAPE_PALMAS,)),
    ("Accra", "Lagos", SEA),
    ("Lagos", "Luanda", SEA),
    ("Luanda", "Cape Town", SEA),
    ("Cape Town", "Johannesburg", LAND),
    ("Cape Town", "Durban", LAND),
    ("Durban", "Johannesburg", LAND),
    ("Durban", "Maputo", SEA),
    ("Maputo", "Johannesburg", LAND),
    ("Maputo", "Dar es Salaam", SEA),
    ("Dar es Salaam", "Mombasa", SEA),
    ("Mombasa", "Nairobi", LAND),
    ("Mombasa", "Djibouti", SEA, (OFF_MOGADISHU, CAPE_GUARDAFUI)),  # around the Horn
    # East and South-East Asia
    ("Singapore", "Kuala Lumpur", LAND),
    ("Kuala Lumpur", "Bangkok", LAND),
    ("Singapore", "Jakarta", SEA),
    ("Singapore", "Hong Kong", SEA),  # APG, SJC, ADC
    ("Hong Kong", "Manila", SEA),
    ("Hong Kong", "Taipei", SEA),
    ("Hong Kong", "Shanghai", LAND),  # via Guangzhou
    ("Shanghai", "Beijing", LAND),
    ("Shanghai", "Tokyo", SEA),
    ("Taipei", "Tokyo", SEA),
    ("Seoul", "Busan", LAND),
    ("Busan", "Osaka", SEA),  # via Fukuoka
    ("Busan", "Taipei", SEA),  # APG, NCP, SJC2
    ("Osaka", "Tokyo", LAND),
    # Oceania
    ("Singapore", "Perth", SEA),  # Indigo West
    ("Perth", "Adelaide", LAND),
    ("Adelaide", "Melbourne", LAND),
    ("Melbourne", "Sydney", LAND),
)
