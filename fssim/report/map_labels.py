"""Words of the report's maps, (French, English); merged into fssim.report.i18n's labels."""

MAP_LABELS: dict[str, tuple[str, str]] = {
    "map.title": ("Carte des France services", "Map of the France services"),
    "map.lead": ("Chaque site est un disque dont la surface suit le nombre de visites simulées, coloré selon "
                 "l'indicateur choisi (menu en haut à gauche). En fond, au choix : le temps de trajet de chaque "
                 "commune jusqu'au site le plus proche, ou la part de sa population servie dans les objectifs.",
                 "Each site is a disc whose area follows its simulated visits, coloured by the chosen indicator "
                 "(menu at the top left). In the background, as chosen: each commune's travel time to the "
                 "nearest site, or the share of its population served within the targets."),
    "map.lead_overseas": (" La métropole est cadrée seule ; les départements d'outre-mer sont en médaillons à gauche.",
                          " Metropolitan France is framed on its own; overseas départements are insets on the "
                          "left."),
    "map.caption": ("Sites (surface : visites ; couleur : indicateur choisi) sur les contours des départements. "
                    "Survoler un site donne son nom, sa commune et ses indicateurs ; survoler une commune, son "
                    "temps de trajet et sa population. Aucune carte de fond n'est téléchargée.",
                    "Sites (area: visits; colour: chosen indicator) on the outlines of the départements. "
                    "Hovering a site gives its name, commune and indicators; hovering a commune, its travel "
                    "time and population. No base map is downloaded."),
    "map.caption_stops": (" Les losanges noirs sont les arrêts des bus France services.",
                          " Black diamonds are the stops of the France services buses."),
    "map.minutes_bar": ("Temps de trajet", "Travel time"),
    "map.inhabitants": ("hab.", "inhabitants"),
    "map.visits": ("Visites", "Visits"),
    "map.stops": ("Arrêts de bus", "Bus stops"),
    "map.stop": ("Arrêt de bus", "Bus stop"),
    "map.colour_by": ("Sites : {kpi}", "Sites: {kpi}"),
    "map.layer.minutes": ("Fond : temps de trajet", "Background: travel time"),
    "map.layer.access": ("Fond : accès dans les objectifs", "Background: access within the targets"),
    "map.layer.none": ("Fond : aucun", "Background: none"),
    "map.access_bar": ("Population servie dans les objectifs", "Population served within the targets"),
    "map.access_hover": ("%{customdata[0]} de la population servie dans les objectifs",
                         "%{customdata[0]} of the population served within the targets"),
    "coverage.see_map": ("Le temps de trajet de chaque commune est sur la carte des France services (fond "
                         "« temps de trajet »).", "Each commune's travel time is on the map of the France "
                         "services (background \"travel time\")."),
    "coverage.only_bus": ("dont seulement par un arrêt de bus", "of which only by a bus stop"),
    "coverage.bus_note": ("Avec les bus : une commune est desservie si un site fixe ou un arrêt de bus est à la "
                          "durée indiquée ou moins (même calcul que « fssim coverage »).",
                          "With buses: a commune is served when a fixed site or a bus stop is within the time "
                          "shown (the same computation as \"fssim coverage\")."),
}
